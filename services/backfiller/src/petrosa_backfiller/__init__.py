"""Petrosa backfiller service (not implemented yet)."""

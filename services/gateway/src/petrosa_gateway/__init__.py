"""Petrosa gateway service (not implemented yet)."""

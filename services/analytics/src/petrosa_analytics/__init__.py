"""Petrosa analytics service (not implemented yet)."""

"""Petrosa auditor service (not implemented yet)."""

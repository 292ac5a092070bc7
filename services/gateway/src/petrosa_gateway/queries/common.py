"""Pagination, shared by the market-data pages and CRUD (defined with the store's models)."""

from __future__ import annotations

from petrosa_gateway.store.models import Pagination

__all__ = ["Pagination"]

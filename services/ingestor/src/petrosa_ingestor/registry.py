"""Registers each new collection in the PostgreSQL catalog after its first write."""

from __future__ import annotations

from collections.abc import Iterable

from petrosa_common.catalog import record_lineage, register_datasets
from petrosa_common.logging import get_logger
from petrosa_common.metrics.common import DATABASE_OPERATIONS
from petrosa_common.postgres import PgPool
from psycopg import Error as PgError

log = get_logger(__name__)


class DatasetRegistry:
    """Remembers which collections are registered; retries after a PostgreSQL failure.

    A catalog failure never blocks ingestion: the data is already stored, and the
    registration is tried again with the next batch.
    """

    def __init__(self, pool: PgPool, *, source_subject: str) -> None:
        self._pool = pool
        self._source = f"nats:{source_subject}"
        self._known: set[str] = set()
        self._pending: set[str] = set()

    def note(self, collections: Iterable[str]) -> None:
        """Mark collections as written to."""
        for collection in collections:
            if collection not in self._known:
                self._pending.add(collection)

    async def flush(self) -> None:
        """Register pending collections (and their lineage edge); keep them pending on error."""
        if not self._pending:
            return
        batch = sorted(self._pending)
        try:
            await register_datasets(self._pool, batch, source="websocket")
            for collection in batch:
                await record_lineage(
                    self._pool, source=self._source, process="ingestor", target=collection
                )
        except PgError as exc:
            DATABASE_OPERATIONS.labels("postgres", "register_dataset", "error").inc()
            log.warning("dataset_registration_failed", collections=batch, error=str(exc))
            return
        DATABASE_OPERATIONS.labels("postgres", "register_dataset", "ok").inc()
        self._known.update(batch)
        self._pending.difference_update(batch)
        log.info("datasets_registered", collections=batch)

"""Catalog refresh: the total record count of each audited dataset.

A separate, leader-only job run after an audit cycle when due (every
``AUDIT_COUNT_REFRESH_SECONDS``), not part of the cycle. Each count is the collection's
metadata count (:func:`petrosa_common.mongo.estimated_count`: O(1) on MongoDB, no document or
index entry is read), never a ``count_documents({})`` (an aggregation that walks the whole
collection). FerretDB 1.24 (the local stand-in) answers it from PostgreSQL's planner
statistics, and with a ``count`` that reads every document (about 0.5 s for 20,000 documents
here) before a table's first ``ANALYZE``, which is why the integrity audit does not wait for
it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from petrosa_common.mongo import Document, estimated_count
from petrosa_common.postgres import PgPool
from pymongo.asynchronous.database import AsyncDatabase


async def refresh_record_counts(
    db: AsyncDatabase[Document],
    pool: PgPool,
    datasets: Sequence[str],
    *,
    concurrency: int,
    verify_leadership: Callable[[], Awaitable[int]],
) -> dict[str, int]:
    """Count every dataset's documents (metadata counts, see the module) and store the counts
    in ``datasets``."""
    limit = asyncio.Semaphore(concurrency)

    async def count(name: str) -> int:
        async with limit:
            return await estimated_count(db[name])

    counts = dict(zip(datasets, await asyncio.gather(*(count(n) for n in datasets)), strict=True))
    await verify_leadership()
    async with pool.connection() as conn, conn.cursor() as cur:
        await cur.executemany(
            "UPDATE datasets SET record_count = %s, counted_at = now(), updated_at = now()"
            " WHERE id = %s",
            [(n, name) for name, n in counts.items()],
        )
    return counts

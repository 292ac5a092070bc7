"""Catalog refresh: the total record count of each audited dataset.

A separate, leader-only job run after an audit cycle when due (every
``AUDIT_COUNT_REFRESH_SECONDS``), not part of the cycle: counting is O(1) metadata on
MongoDB but a full scan on some MongoDB-wire servers (FerretDB), and the integrity audit
must not wait for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from petrosa_common.mongo import Document
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
    """Count every dataset's documents and store the counts in ``datasets``."""
    limit = asyncio.Semaphore(concurrency)

    async def count(name: str) -> int:
        async with limit:
            return await db[name].estimated_document_count()

    counts = dict(zip(datasets, await asyncio.gather(*(count(n) for n in datasets)), strict=True))
    await verify_leadership()
    async with pool.connection() as conn, conn.cursor() as cur:
        await cur.executemany(
            "UPDATE datasets SET record_count = %s, counted_at = now(), updated_at = now()"
            " WHERE id = %s",
            [(n, name) for name, n in counts.items()],
        )
    return counts

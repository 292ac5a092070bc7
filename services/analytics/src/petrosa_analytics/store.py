"""Where results go: the latest per key (one ``_id`` read to serve it) and the history.

Every write is fenced: ``verify()`` (the lease's term check) runs right before it, so a leader
that lost its lease writes nothing more.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from petrosa_common.analytics import (
    ANALYTICS_HISTORY_COLLECTION,
    ANALYTICS_LATEST_COLLECTION,
    AnalyticsResult,
)
from petrosa_common.mongo import Document
from pymongo import ASCENDING, ReplaceOne
from pymongo.asynchronous.database import AsyncDatabase

from petrosa_analytics.compute import finite

Verify = Callable[[], Awaitable[int]]


def to_document(result: AnalyticsResult) -> Document:
    """The stored form of ``result`` (``_id`` first; non-finite numbers as ``None``)."""
    body: dict[str, Any] = result.model_dump(mode="python")
    body["values"] = finite(body["values"])
    return {"_id": result.key, **body}


def history_id(result: AnalyticsResult) -> str:
    """``_id`` of ``result`` in the history: its key and the millisecond it was computed."""
    return f"{result.key}@{int(result.computed_at.timestamp() * 1000)}"


async def ensure_indexes(db: AsyncDatabase[Document]) -> None:
    """The history's ``computed_at`` index (retention deletes the oldest by it) and the
    latest results' (metric, symbol, timeframe) index (the gateway's read without a window)."""
    await db[ANALYTICS_HISTORY_COLLECTION].create_index(
        [("computed_at", ASCENDING)], name="computed_at_1"
    )
    await db[ANALYTICS_LATEST_COLLECTION].create_index(
        [("metric", ASCENDING), ("symbol", ASCENDING), ("timeframe", ASCENDING)],
        name="metric_symbol_timeframe",
    )


async def write_results(
    db: AsyncDatabase[Document], results: Sequence[AnalyticsResult], verify: Verify
) -> None:
    """Replace the latest of each key and append to the history, fenced by ``verify``."""
    if not results:
        return
    documents = [to_document(result) for result in results]
    await verify()
    await db[ANALYTICS_LATEST_COLLECTION].bulk_write(
        [ReplaceOne({"_id": doc["_id"]}, doc, upsert=True) for doc in documents], ordered=False
    )
    history = [
        {**doc, "_id": history_id(result)} for doc, result in zip(documents, results, strict=True)
    ]
    await verify()
    await db[ANALYTICS_HISTORY_COLLECTION].insert_many(history, ordered=False)


async def trim_history(
    db: AsyncDatabase[Document], *, now: datetime, keep_seconds: float, verify: Verify
) -> int:
    """Delete history older than ``keep_seconds`` (0: keep everything); returns how many."""
    if not keep_seconds:
        return 0
    await verify()
    cutoff = now - timedelta(seconds=keep_seconds)
    result = await db[ANALYTICS_HISTORY_COLLECTION].delete_many({"computed_at": {"$lt": cutoff}})
    return int(result.deleted_count)

"""The book a spread is computed from: the newest stored snapshot of a symbol, read bounded.

Depth collections mostly hold diffs (``is_snapshot: false``); a stream of diffs alone may
hold no snapshot at all. "The newest document with ``is_snapshot: true``" is therefore not a
bounded read: walking the ``timestamp`` index back from the newest would fetch every diff
until a snapshot turns up, the whole collection when none exists. So the search is bounded
in time, relative to the data (not the wall clock, so a replayed or backfilled series
behaves the same): the newest snapshot at most :data:`BOOK_SNAPSHOT_LOOKBACK` older than
the newest depth document. An older snapshot is not the current book anyway.

Two reads, both served by the ``timestamp`` index: the newest depth document's time (one
index entry), then the newest snapshot in ``[newest - lookback, newest]``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

from petrosa_common.mongo import Document
from petrosa_common.naming import DatasetKind, collection_name
from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

BOOK_SNAPSHOT_LOOKBACK: Final = timedelta(hours=1)
"""How much older than the newest depth document a snapshot may be and still be used."""
NO_BOOK: Final = (
    f"no book snapshot stored within {BOOK_SNAPSHOT_LOOKBACK} of the newest depth document"
)
"""Why no spread was computed (logged, and the on-demand error's detail)."""
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


async def latest_book(
    db: AsyncDatabase[Document], symbol: str, *, lookback: timedelta = BOOK_SNAPSHOT_LOOKBACK
) -> Document | None:
    """The newest book snapshot of ``symbol`` within ``lookback`` of its newest depth
    document; ``None`` when there is none (see the module)."""
    depth = db[collection_name(DatasetKind.DEPTH, symbol)]
    # A date range (MongoDB compares dates only with dates): the newest dated document.
    newest = await depth.find_one(
        {"timestamp": {"$gte": _EPOCH}}, {"timestamp": 1}, sort=[("timestamp", DESCENDING)]
    )
    if newest is None:
        return None
    until: datetime = newest["timestamp"]
    return await depth.find_one(
        {"is_snapshot": True, "timestamp": {"$gte": until - lookback, "$lte": until}},
        sort=[("timestamp", DESCENDING)],
    )


__all__ = ["BOOK_SNAPSHOT_LOOKBACK", "NO_BOOK", "latest_book"]

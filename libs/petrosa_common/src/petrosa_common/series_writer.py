"""Idempotent writes of market documents into MongoDB, shared by every writer of series
(the ingestor, the backfiller).

Per collection: one unordered bulk insert (the ``_id`` is the natural key, so a duplicate
means "already stored"), then a conditional update for each evolving document (candle,
funding) that already existed. See :mod:`petrosa_common.documents` for why. An evolving
document this writer stored while it was still open (a live stream's forming candle, a
predicted funding rate) is known to exist: its next versions go straight to the conditional
update, without an insert that can only fail.

A document that can never be stored (its body cannot be built, BSON cannot encode it, the
server refuses it) is reported in :attr:`CollectionOutcome.refused` and the others are
written; only a failure of the database itself raises (:class:`TransientWriteError`).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bson.errors import InvalidDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError, WriteError

from petrosa_common.documents import (
    DUPLICATE_KEY_ERROR,
    DocumentId,
    WriteOp,
    newer_update,
    to_document,
)
from petrosa_common.metrics import DATABASE_OPERATIONS
from petrosa_common.mongo import Document, ensure_series_indexes

UPDATES_WITHOUT_READ = 8
"""Existing versioned documents of a write updated without reading their versions first."""
OPEN_IDS_KEPT = 256
"""Open versioned documents remembered per collection (a live stream has one or two open)."""


class TransientWriteError(RuntimeError):
    """The database could not take the write now (outage, timeout): retry later."""


@dataclass(frozen=True, slots=True)
class CollectionOutcome:
    """Result of writing one collection's share of a batch."""

    collection: str
    refused: dict[DocumentId, str]
    """Documents the server refused for good (not transient), with its message."""
    inserted: int = 0
    """Documents that were new."""
    updated: int = 0
    """Existing documents brought up to a newer version."""


class SeriesWriter:
    """Writes batches collection by collection; one write at a time per collection."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._db = db
        self._indexed: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._open: dict[str, OrderedDict[DocumentId, None]] = {}
        """Per collection, the ``_id`` of versioned documents stored open, oldest first."""

    async def write(
        self, collection: str, ops: Sequence[WriteOp], ingested_at: datetime
    ) -> CollectionOutcome:
        """Store ``ops`` idempotently; raises :class:`TransientWriteError` to be retried."""
        lock = self._locks.setdefault(collection, asyncio.Lock())
        async with lock:
            try:
                if collection not in self._indexed:
                    await ensure_series_indexes(self._db, collection)
                    self._indexed.add(collection)
                ops, documents, unbuildable = _build(ops, ingested_at)
                open_ids = self._open.setdefault(collection, OrderedDict())
                known = [
                    i
                    for i, op in enumerate(ops)
                    if op.version is not None and op.doc_id in open_ids
                ]
                updated, unmatched, refused = await self._update(collection, ops, documents, known)
                # New documents, and known ones the update did not find (deleted meanwhile,
                # or already at a newer version: the insert's duplicate error tells which).
                rest = sorted(set(range(len(ops))).difference(known).union(unmatched))
                existing, insert_refused = await self._insert(
                    collection, [documents[i] for i in rest]
                )
                existing = [rest[i] for i in existing]
                refused.update({rest[i]: why for i, why in insert_refused.items()})
                inserted = len(rest) - len(existing) - len(insert_refused)
                older = await self._older(collection, ops, documents, existing)
                more, _, more_refused = await self._update(collection, ops, documents, older)
                updated += more
                refused.update(more_refused)
                _remember_open(open_ids, ops, refused)
            except PyMongoError as exc:
                DATABASE_OPERATIONS.labels("mongodb", "write", "error").inc()
                raise TransientWriteError(f"{collection}: {exc}") from exc
        DATABASE_OPERATIONS.labels("mongodb", "write", "ok").inc()
        return CollectionOutcome(
            collection,
            {**unbuildable, **{ops[index].doc_id: detail for index, detail in refused.items()}},
            inserted=inserted,
            updated=updated,
        )

    async def _update(
        self,
        collection: str,
        ops: Sequence[WriteOp],
        documents: Sequence[Document],
        indexes: Sequence[int],
    ) -> tuple[int, list[int], dict[int, str]]:
        """Bring the stored documents of ``ops[indexes]`` up to their versions, one
        conditional update by ``_id`` each: returns (documents modified, indexes that matched
        nothing, indexes refused for good -> why)."""
        modified = 0
        unmatched: list[int] = []
        refused: dict[int, str] = {}
        for index in indexes:
            query, update = newer_update(ops[index], documents[index])
            try:
                result = await self._db[collection].update_one(query, update)
            except (WriteError, *_UNENCODABLE) as exc:
                refused[index] = f"update refused: {exc}"
                continue
            modified += result.modified_count
            if result.matched_count == 0:
                unmatched.append(index)
        return modified, unmatched, refused

    async def _older(
        self,
        collection: str,
        ops: Sequence[WriteOp],
        documents: Sequence[Document],
        existing: list[int],
    ) -> list[int]:
        """Indexes of existing versioned documents that may be stored at an older version
        than ``ops`` (each update stays conditional, so a concurrent newer write still wins).

        Up to :data:`UPDATES_WITHOUT_READ` documents (a live stream's open candles: one or
        two per collection and batch, each at a newer version), all of them: a conditional
        update by ``_id`` is one index lookup, and a read first would only add a round trip.
        Beyond that (a redelivered or re-backfilled batch, mostly stored already), the stored
        versions are read with ONE ``timestamp`` range query over the documents concerned (an
        index range scan on MongoDB) so that only the older ones are written.
        """
        versioned = [index for index in existing if ops[index].version is not None]
        if len(versioned) <= UPDATES_WITHOUT_READ:
            return versioned
        stamps = [documents[index]["timestamp"] for index in versioned]
        wanted = {ops[index].doc_id for index in versioned}
        stored: dict[DocumentId, tuple[int, bool]] = {}
        cursor = self._db[collection].find(
            {"timestamp": {"$gte": min(stamps), "$lte": max(stamps)}},
            {"event_time_ms": 1, "is_closed": 1},
        )
        async for doc in cursor:
            if doc["_id"] in wanted:
                stored[doc["_id"]] = (int(doc.get("event_time_ms", -1)), bool(doc.get("is_closed")))
        return [
            index
            for index in versioned
            if (version := ops[index].version) is not None
            and version > stored.get(ops[index].doc_id, (-1, False))
        ]

    async def _insert(
        self, collection: str, documents: list[Document]
    ) -> tuple[list[int], dict[int, str]]:
        """Insert all; returns (indexes already stored, indexes refused for good -> why)."""
        if not documents:
            return [], {}
        try:
            await self._db[collection].insert_many(documents, ordered=False)
        except BulkWriteError as exc:
            if exc.details.get("writeConcernErrors"):
                raise
            existing: list[int] = []
            refused: dict[int, str] = {}
            for error in exc.details.get("writeErrors", []):
                if error.get("code") == DUPLICATE_KEY_ERROR:
                    existing.append(error["index"])
                else:
                    refused[error["index"]] = str(error.get("errmsg", error))
            return existing, refused
        except _UNENCODABLE:
            # One document the driver cannot encode (over 16 MiB, an int beyond 8 bytes) fails
            # the whole call: redo it one by one to keep the others.
            return await self._one_by_one(collection, documents)
        return [], {}

    async def _one_by_one(
        self, collection: str, documents: list[Document]
    ) -> tuple[list[int], dict[int, str]]:
        existing: list[int] = []
        refused: dict[int, str] = {}
        target = self._db[collection]
        for index, document in enumerate(documents):
            try:
                await target.insert_one(document)
            except DuplicateKeyError:
                existing.append(index)
            except _UNENCODABLE as exc:
                refused[index] = f"invalid document: {type(exc).__name__}: {exc}"
            except WriteError as exc:
                refused[index] = str(exc)
        return existing, refused


def _remember_open(
    open_ids: OrderedDict[DocumentId, None], ops: Sequence[WriteOp], refused: dict[int, str]
) -> None:
    """Remember the versioned documents of ``ops`` stored open (their next versions will be
    updates) and forget the closed ones (nothing newer is expected)."""
    for index, op in enumerate(ops):
        if op.version is None or index in refused:
            continue
        if op.version[1]:
            open_ids.pop(op.doc_id, None)
        else:
            open_ids[op.doc_id] = None
            open_ids.move_to_end(op.doc_id)
    while len(open_ids) > OPEN_IDS_KEPT:
        open_ids.popitem(last=False)


# What BSON encoding raises for a document it cannot represent.
_UNENCODABLE = (InvalidDocument, OverflowError, ValueError, TypeError)


def _build(
    ops: Sequence[WriteOp], ingested_at: datetime
) -> tuple[list[WriteOp], list[Document], dict[DocumentId, str]]:
    """The ops whose document can be built, their documents, and why the others cannot."""
    kept: list[WriteOp] = []
    documents: list[Document] = []
    refused: dict[DocumentId, str] = {}
    for op in ops:
        try:
            documents.append(to_document(op, ingested_at))
        except Exception as exc:  # one bad event must not cost the collection's batch
            refused[op.doc_id] = f"document not built: {type(exc).__name__}: {exc}"
        else:
            kept.append(op)
    return kept, documents, refused

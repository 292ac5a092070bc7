"""Idempotent writes of market documents into MongoDB, shared by every writer of series
(the ingestor, the backfiller).

Per collection: one unordered bulk insert (the ``_id`` is the natural key, so a duplicate
means "already stored"), then a conditional update for each evolving document (candle,
funding) that already existed. See :mod:`petrosa_common.documents` for why.
"""

from __future__ import annotations

import asyncio
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
                documents = [to_document(op, ingested_at) for op in ops]
                existing, refused = await self._insert(collection, documents)
                updated = 0
                for index in await self._older(collection, ops, documents, existing):
                    query, update = newer_update(ops[index], documents[index])
                    result = await self._db[collection].update_one(query, update)
                    updated += result.modified_count
            except PyMongoError as exc:
                DATABASE_OPERATIONS.labels("mongodb", "write", "error").inc()
                raise TransientWriteError(f"{collection}: {exc}") from exc
        DATABASE_OPERATIONS.labels("mongodb", "write", "ok").inc()
        return CollectionOutcome(
            collection,
            {ops[index].doc_id: detail for index, detail in refused.items()},
            inserted=len(ops) - len(existing) - len(refused),
            updated=updated,
        )

    async def _older(
        self,
        collection: str,
        ops: Sequence[WriteOp],
        documents: Sequence[Document],
        existing: list[int],
    ) -> list[int]:
        """Indexes of existing versioned documents stored at an older version than ``ops``.

        Reads the stored versions with ONE ``timestamp`` range query over the documents
        concerned (an index range scan on MongoDB; a single scan on FerretDB, which has no
        ``_id`` index for lookups) rather than one conditional update per document, so a
        redelivered or re-backfilled batch writes nothing. The update itself stays
        conditional, so a concurrent newer write still wins.
        """
        versioned = [index for index in existing if ops[index].version is not None]
        if not versioned:
            return []
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
        except InvalidDocument:
            # One document the driver cannot encode (e.g. over 16 MiB) fails the whole call:
            # redo it one by one to keep the others.
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
            except InvalidDocument as exc:
                refused[index] = f"invalid document: {exc}"
            except WriteError as exc:
                refused[index] = str(exc)
        return existing, refused

"""Idempotent bulk writes of routed batches into MongoDB, and the dead-letter store."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from petrosa_common.documents import DUPLICATE_KEY_ERROR, DocumentId, WriteOp, to_updates
from petrosa_common.metrics import DATABASE_OPERATIONS, DEAD_LETTERS
from petrosa_common.mongo import Document, ensure_series_indexes
from petrosa_common.naming import DEAD_LETTERS_COLLECTION
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, PyMongoError


class TransientWriteError(RuntimeError):
    """The database could not take the write now (outage, timeout): retry later."""


@dataclass(frozen=True, slots=True)
class CollectionOutcome:
    """Result of writing one collection's share of a batch."""

    collection: str
    refused: dict[DocumentId, str]
    """Documents the server refused for good (not transient), with its message."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message that can never be stored, kept with its raw payload and the reason."""

    reason: str
    detail: str
    event_type: str
    subject: str
    payload: bytes
    stream_sequence: int | None
    received_at: datetime

    def to_document(self) -> Document:
        """The ``dead_letters`` document (payload as text when it is valid UTF-8)."""
        try:
            raw: str | bytes = self.payload.decode("utf-8")
        except UnicodeDecodeError:
            raw = self.payload
        return {
            "reason": self.reason,
            "detail": self.detail,
            "event_type": self.event_type,
            "subject": self.subject,
            "payload": raw,
            "stream_sequence": self.stream_sequence,
            "received_at": self.received_at,
        }


class MongoWriter:
    """Writes batches collection by collection; one write at a time per collection."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._db = db
        self._indexed: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}

    async def write(
        self, collection: str, ops: Sequence[WriteOp], ingested_at: datetime
    ) -> CollectionOutcome:
        """Apply ``ops`` idempotently; raises :class:`TransientWriteError` to be retried."""
        lock = self._locks.setdefault(collection, asyncio.Lock())
        async with lock:
            try:
                if collection not in self._indexed:
                    await ensure_series_indexes(self._db, collection)
                    self._indexed.add(collection)
                inserts, newer = to_updates(ops, ingested_at)
                refused = await self._bulk(collection, inserts, ops)
                if newer:
                    versioned = [op for op in ops if op.version is not None]
                    refused.update(await self._bulk(collection, newer, versioned))
            except PyMongoError as exc:
                DATABASE_OPERATIONS.labels("mongodb", "bulk_write", "error").inc()
                raise TransientWriteError(f"{collection}: {exc}") from exc
            except KeyError as exc:
                # Some MongoDB-wire servers omit counters from error replies, which the
                # driver trips over; the write is safe to repeat, so retry it.
                DATABASE_OPERATIONS.labels("mongodb", "bulk_write", "error").inc()
                raise TransientWriteError(f"{collection}: incomplete reply ({exc})") from exc
        DATABASE_OPERATIONS.labels("mongodb", "bulk_write", "ok").inc()
        return CollectionOutcome(collection, refused)

    async def _bulk(
        self, collection: str, requests: list[Any], ops: Sequence[WriteOp]
    ) -> dict[DocumentId, str]:
        try:
            await self._db[collection].bulk_write(requests, ordered=False)
        except BulkWriteError as exc:
            details = exc.details
            if details.get("writeConcernErrors"):
                raise
            refused: dict[DocumentId, str] = {}
            for error in details.get("writeErrors", []):
                if error.get("code") == DUPLICATE_KEY_ERROR:
                    continue  # a concurrent upsert inserted it first: the document exists
                refused[ops[error["index"]].doc_id] = str(error.get("errmsg", error))
            return refused
        return {}

    async def store_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        """Insert dead letters; raises :class:`TransientWriteError` when the store is down."""
        if not letters:
            return
        try:
            await self._db[DEAD_LETTERS_COLLECTION].insert_many(
                [letter.to_document() for letter in letters], ordered=False
            )
        except PyMongoError as exc:
            DATABASE_OPERATIONS.labels("mongodb", "insert_many", "error").inc()
            raise TransientWriteError(f"dead letters: {exc}") from exc
        DATABASE_OPERATIONS.labels("mongodb", "insert_many", "ok").inc()
        for letter in letters:
            DEAD_LETTERS.labels(letter.reason).inc()

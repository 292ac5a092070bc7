"""The ingestor's writer: the shared idempotent series writer plus the dead-letter store."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from petrosa_common.documents import DUPLICATE_KEY_ERROR
from petrosa_common.logging import get_logger
from petrosa_common.metrics.common import DATABASE_OPERATIONS
from petrosa_common.metrics.ingest import DEAD_LETTERS
from petrosa_common.mongo import Document
from petrosa_common.naming import DEAD_LETTERS_COLLECTION
from petrosa_common.series_writer import CollectionOutcome, SeriesWriter, TransientWriteError
from pymongo.errors import BulkWriteError, PyMongoError

__all__ = ["CollectionOutcome", "DeadLetter", "MongoWriter", "TransientWriteError"]

log = get_logger(__name__)


MAX_DEAD_LETTER_PAYLOAD = 1024**2
"""Bytes of a payload kept in a dead letter (the NATS default maximum message size); the rest
is cut, with the full size and a hash recorded."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message that can never be stored, kept with its raw payload and the reason.

    ``key`` is the message's identity (see :attr:`Incoming.identity`): it is the document's
    ``_id``, so a redelivered message can never leave a second dead letter.
    """

    key: str
    reason: str
    detail: str
    event_type: str
    subject: str
    payload: bytes
    stream_sequence: int | None
    delivery_count: int
    received_at: datetime

    def to_document(self) -> Document:
        """The ``dead_letters`` document (payload as text when it is valid UTF-8)."""
        kept = self.payload[:MAX_DEAD_LETTER_PAYLOAD]
        try:
            raw: str | bytes = kept.decode("utf-8")
        except UnicodeDecodeError:
            raw = kept
        return {
            "_id": self.key,
            "reason": self.reason,
            "detail": self.detail[:1000],
            "event_type": self.event_type,
            "subject": self.subject,
            "payload": raw,
            "payload_size": len(self.payload),
            "payload_truncated": len(kept) < len(self.payload),
            "payload_sha256": hashlib.sha256(self.payload).hexdigest(),
            "stream_sequence": self.stream_sequence,
            "delivery_count": self.delivery_count,
            "received_at": self.received_at,
        }


class MongoWriter(SeriesWriter):
    """Series writes plus the dead-letter store."""

    async def store_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        """Insert dead letters (one already stored under the same key counts as stored);
        raises :class:`TransientWriteError` when the store is down."""
        if not letters:
            return
        collection = self._db[DEAD_LETTERS_COLLECTION]
        documents = [letter.to_document() for letter in letters]
        already: set[int] = set()
        try:
            await collection.insert_many(documents, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            others = [e for e in errors if e.get("code") != DUPLICATE_KEY_ERROR]
            if others or exc.details.get("writeConcernErrors"):
                DATABASE_OPERATIONS.labels("mongodb", "insert_many", "error").inc()
                raise TransientWriteError(f"dead letters: {others[:1] or exc}") from exc
            already = {error["index"] for error in errors}
        except PyMongoError as exc:
            DATABASE_OPERATIONS.labels("mongodb", "insert_many", "error").inc()
            raise TransientWriteError(f"dead letters: {exc}") from exc
        DATABASE_OPERATIONS.labels("mongodb", "insert_many", "ok").inc()
        for index, letter in enumerate(letters):
            if index not in already:
                DEAD_LETTERS.labels(letter.reason).inc()
        if already:
            log.info("dead_letters_already_stored", count=len(already))

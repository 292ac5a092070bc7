"""The ingestor's writer: the shared idempotent series writer plus the dead-letter store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from petrosa_common.metrics import DATABASE_OPERATIONS, DEAD_LETTERS
from petrosa_common.mongo import Document
from petrosa_common.naming import DEAD_LETTERS_COLLECTION
from petrosa_common.series_writer import CollectionOutcome, SeriesWriter, TransientWriteError
from pymongo.errors import PyMongoError

__all__ = ["CollectionOutcome", "DeadLetter", "MongoWriter", "TransientWriteError"]


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


class MongoWriter(SeriesWriter):
    """Series writes plus the dead-letter store."""

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

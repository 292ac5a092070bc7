"""One batch from fetch to settlement: route, write, dead-letter, ack or retry.

Guarantees:

* A message is acknowledged only after everything it carries is stored, or, for a message
  that can never be stored, after it is in ``dead_letters`` (under its own identity, so a
  redelivery never stores a second copy).
* Whatever one frame does, it costs that frame only: the parser rejects it, a bug in routing
  or document building rejects it, a document the server refuses is narrowed down to the
  messages that carry it. All of those are dead-lettered; the batch goes on.
* On a database error nothing is acknowledged: the messages are retried in process after a
  back-off (kept alive meanwhile, see :mod:`petrosa_ingestor.pipeline`), so an outage does
  not count against a message's deliveries.
* A message delivered more than ``max_deliveries`` times (only crashes and hangs redeliver
  it) is dead-lettered unread and terminated: nothing can block the stream.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Protocol

from petrosa_common.documents import DocumentId, WriteOp
from petrosa_common.logging import get_logger
from petrosa_common.metrics.common import ERRORS
from petrosa_common.metrics.ingest import (
    BATCH_SIZE,
    MESSAGE_PROCESSING_SECONDS,
    MESSAGES_FAILED,
    MESSAGES_PROCESSED,
    MESSAGES_RECEIVED,
)
from petrosa_common.parser import DEFAULT_LIMITS, FrameLimits

from petrosa_ingestor.backoff import Backoff
from petrosa_ingestor.registry import DatasetRegistry
from petrosa_ingestor.router import RoutedBatch, route_batch
from petrosa_ingestor.writer import CollectionOutcome, DeadLetter, MongoWriter, TransientWriteError

log = get_logger(__name__)

WRITE_REFUSED = "write_refused"
"""Dead-letter reason: the database refused a document of the message for good."""
MAX_DELIVERIES = "max_deliveries"
"""Dead-letter reason: the message was delivered more than ``INGEST_MAX_DELIVER`` times."""


class Incoming(Protocol):
    """A received message, whatever the transport."""

    needs_retry: bool
    """Set by :meth:`retry_later`, cleared when the message is settled."""

    @property
    def data(self) -> bytes: ...

    @property
    def subject(self) -> str: ...

    @property
    def stream_sequence(self) -> int | None: ...

    @property
    def delivery_count(self) -> int:
        """How many times the broker has delivered this message (1 the first time)."""
        ...

    @property
    def identity(self) -> str:
        """The same on every delivery of this message, distinct for every other message."""
        ...

    async def ack(self) -> None: ...

    async def retry_later(self, delay: float) -> None:
        """Mark the message to be processed again in process after ``delay``."""
        ...

    async def keep_alive(self) -> None:
        """Tell the broker the message is still being worked on (no redelivery yet)."""
        ...

    async def give_back(self) -> None:
        """Hand an unsettled message back to the broker (at shutdown)."""
        ...

    async def terminate(self) -> None:
        """Settle the message for good without storing it (no redelivery)."""
        ...


class BatchProcessor:
    """Stores batches and settles each message (ack, dead letter, or retry later)."""

    def __init__(
        self,
        writer: MongoWriter,
        registry: DatasetRegistry,
        backoff: Backoff,
        *,
        limits: FrameLimits = DEFAULT_LIMITS,
        max_deliveries: int = 5,
    ) -> None:
        self._writer = writer
        self._registry = registry
        self._backoff = backoff
        self._limits = limits
        self._max_deliveries = max_deliveries

    async def process(self, messages: Sequence[Incoming]) -> int:
        """Process one batch; returns how many messages were settled for good."""
        started = time.perf_counter()
        exhausted = {
            index: f"delivered {message.delivery_count} times (limit {self._max_deliveries})"
            for index, message in enumerate(messages)
            if message.delivery_count > self._max_deliveries
        }
        routed = route_batch(
            [b"" if index in exhausted else m.data for index, m in enumerate(messages)],
            self._limits,
        )
        for index, detail in exhausted.items():
            routed.rejected[index] = (MAX_DELIVERIES, detail)
        for event_type, count in Counter(routed.event_types).items():
            MESSAGES_RECEIVED.labels(event_type).inc(count)
        BATCH_SIZE.observe(len(messages))

        ingested_at = datetime.now(UTC)
        outcomes = await asyncio.gather(
            *(
                self._write(collection, list(ops.values()), ingested_at)
                for collection, ops in routed.ops_by_collection.items()
            )
        )
        failed: set[str] = set()
        refused_messages: dict[int, str] = {}
        for collection, outcome in zip(routed.ops_by_collection, outcomes, strict=True):
            if isinstance(outcome, TransientWriteError):
                failed.add(collection)
                log.warning("write_failed", collection=collection, error=str(outcome))
            else:
                refused_messages.update(_refused(routed, outcome))

        letters = _dead_letters(messages, routed, refused_messages, ingested_at)
        letters_stored = True
        if letters:
            try:
                await self._writer.store_dead_letters(list(letters.values()))
            except TransientWriteError as exc:
                letters_stored = False
                log.warning("dead_letter_write_failed", error=str(exc))

        settled = await self._settle(messages, routed, failed, letters, letters_stored)
        self._registry.note(c for c in routed.ops_by_collection if c not in failed)
        await self._registry.flush()
        MESSAGE_PROCESSING_SECONDS.observe(time.perf_counter() - started)
        return settled

    async def _write(
        self, collection: str, ops: list[WriteOp], ingested_at: datetime
    ) -> CollectionOutcome | TransientWriteError:
        """Write one collection's share; an unexpected failure is narrowed to the documents
        that cause it (written one at a time), which are reported as refused."""
        try:
            return await self._writer.write(collection, ops, ingested_at)
        except TransientWriteError as exc:
            return exc
        except Exception as exc:  # anything else is about the documents, not the database
            if len(ops) == 1:
                log.exception("document_write_failed", collection=collection)
                detail = f"{type(exc).__name__}: {exc}"[:500]
                return CollectionOutcome(collection, {ops[0].doc_id: detail})
            log.warning("collection_write_failed_narrowing", collection=collection, error=str(exc))
        refused: dict[DocumentId, str] = {}
        inserted = updated = 0
        for op in ops:
            outcome = await self._write(collection, [op], ingested_at)
            if isinstance(outcome, TransientWriteError):
                return outcome
            refused.update(outcome.refused)
            inserted += outcome.inserted
            updated += outcome.updated
        return CollectionOutcome(collection, refused, inserted=inserted, updated=updated)

    async def _settle(
        self,
        messages: Sequence[Incoming],
        routed: RoutedBatch,
        failed: set[str],
        letters: Mapping[int, DeadLetter],
        letters_stored: bool,
    ) -> int:
        delay = self._backoff.next_delay() if failed or not letters_stored else 0.0
        processed: Counter[str] = Counter()
        retried: Counter[str] = Counter()
        settled = 0
        for index, message in enumerate(messages):
            event_type = routed.event_types[index]
            letter = letters.get(index)
            if failed.intersection(routed.collections_of(index)):
                await message.retry_later(delay)  # the whole message again, later
                retried[event_type] += 1
            elif letter is not None:
                if letters_stored:
                    if letter.reason == MAX_DELIVERIES:
                        await message.terminate()
                    else:
                        await message.ack()
                    settled += 1
                    MESSAGES_FAILED.labels(event_type, letter.reason).inc()
                else:
                    await message.retry_later(delay)
                    retried[event_type] += 1
            else:
                await message.ack()
                settled += 1
                processed[event_type] += 1
        for event_type, count in processed.items():
            MESSAGES_PROCESSED.labels(event_type).inc(count)
        for event_type, count in retried.items():
            MESSAGES_FAILED.labels(event_type, "database_unavailable").inc(count)
        if delay:
            ERRORS.labels("ingestor", "database_unavailable").inc()
            log.warning(
                "batch_retry_scheduled",
                retried=sum(retried.values()),
                delay_seconds=round(delay, 2),
                consecutive_failures=self._backoff.failures,
            )
            await asyncio.sleep(delay)
        else:
            self._backoff.reset()
        return settled


def _dead_letters(
    messages: Sequence[Incoming],
    routed: RoutedBatch,
    refused: dict[int, str],
    received_at: datetime,
) -> dict[int, DeadLetter]:
    reasons = {**routed.rejected, **{i: (WRITE_REFUSED, d) for i, d in refused.items()}}
    letters: dict[int, DeadLetter] = {}
    for index, (reason, detail) in reasons.items():
        message = messages[index]
        letters[index] = DeadLetter(
            key=message.identity,
            reason=reason,
            detail=detail,
            event_type=routed.event_types[index],
            subject=message.subject,
            payload=message.data,
            stream_sequence=message.stream_sequence,
            delivery_count=message.delivery_count,
            received_at=received_at,
        )
    return letters


def _refused(routed: RoutedBatch, outcome: CollectionOutcome) -> dict[int, str]:
    messages: dict[int, str] = {}
    for doc_id, detail in outcome.refused.items():
        for index in routed.contributors((outcome.collection, doc_id)):
            messages[index] = detail
    return messages

"""One batch from fetch to acknowledgement: route, write, dead-letter, ack or retry.

Guarantees: a message is acknowledged only after everything it carries is stored (or, for a
message that can never be stored, after it is in ``dead_letters``). On a database error the
message is not acknowledged; JetStream delivers it again after a back-off, and the
idempotent writes make the repeat harmless.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

from petrosa_common.logging import get_logger
from petrosa_common.metrics import (
    BATCH_SIZE,
    ERRORS,
    MESSAGE_PROCESSING_SECONDS,
    MESSAGES_FAILED,
    MESSAGES_PROCESSED,
    MESSAGES_RECEIVED,
)

from petrosa_ingestor.backoff import Backoff
from petrosa_ingestor.registry import DatasetRegistry
from petrosa_ingestor.router import RoutedBatch, route_batch
from petrosa_ingestor.writer import CollectionOutcome, DeadLetter, MongoWriter, TransientWriteError

log = get_logger(__name__)


class Incoming(Protocol):
    """A received message, whatever the transport."""

    @property
    def data(self) -> bytes: ...

    @property
    def subject(self) -> str: ...

    @property
    def stream_sequence(self) -> int | None: ...

    async def ack(self) -> None: ...

    async def retry_later(self, delay: float) -> None: ...


class BatchProcessor:
    """Stores batches and settles each message (ack, or retry later)."""

    def __init__(self, writer: MongoWriter, registry: DatasetRegistry, backoff: Backoff) -> None:
        self._writer = writer
        self._registry = registry
        self._backoff = backoff

    async def process(self, messages: Sequence[Incoming]) -> int:
        """Process one batch; returns how many messages were settled for good."""
        started = time.perf_counter()
        routed = route_batch([message.data for message in messages])
        received = Counter(routed.event_types)
        for event_type, count in received.items():
            MESSAGES_RECEIVED.labels(event_type).inc(count)
        BATCH_SIZE.observe(len(messages))

        ingested_at = datetime.now(UTC)
        outcomes = await asyncio.gather(
            *(
                self._writer.write(collection, list(ops.values()), ingested_at)
                for collection, ops in routed.ops_by_collection.items()
            ),
            return_exceptions=True,
        )
        failed: set[str] = set()
        refused_messages: dict[int, str] = {}
        for collection, outcome in zip(routed.ops_by_collection, outcomes, strict=True):
            if isinstance(outcome, TransientWriteError):
                failed.add(collection)
                log.warning("write_failed", collection=collection, error=str(outcome))
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                refused_messages.update(_refused(routed, outcome))

        letters = self._dead_letters(messages, routed, refused_messages, ingested_at)
        letters_stored = True
        if letters:
            try:
                await self._writer.store_dead_letters([letter for _, letter in letters])
            except TransientWriteError as exc:
                letters_stored = False
                log.warning("dead_letter_write_failed", error=str(exc))

        settled = await self._settle(messages, routed, failed, letters, letters_stored)
        self._registry.note(c for c in routed.ops_by_collection if c not in failed)
        await self._registry.flush()
        MESSAGE_PROCESSING_SECONDS.observe(time.perf_counter() - started)
        return settled

    def _dead_letters(
        self,
        messages: Sequence[Incoming],
        routed: RoutedBatch,
        refused: dict[int, str],
        received_at: datetime,
    ) -> list[tuple[int, DeadLetter]]:
        letters: list[tuple[int, DeadLetter]] = []
        for index, rejection in routed.rejected.items():
            reason, detail = rejection.reason, rejection.detail
            letters.append(
                (index, self._letter(messages[index], reason, detail, routed, index, received_at))
            )
        for index, detail in refused.items():
            letters.append(
                (
                    index,
                    self._letter(
                        messages[index], "write_refused", detail, routed, index, received_at
                    ),
                )
            )
        return letters

    @staticmethod
    def _letter(
        message: Incoming, reason: str, detail: str, routed: RoutedBatch, index: int, at: datetime
    ) -> DeadLetter:
        return DeadLetter(
            reason=reason,
            detail=detail,
            event_type=routed.event_types[index],
            subject=message.subject,
            payload=message.data,
            stream_sequence=message.stream_sequence,
            received_at=at,
        )

    async def _settle(
        self,
        messages: Sequence[Incoming],
        routed: RoutedBatch,
        failed: set[str],
        letters: list[tuple[int, DeadLetter]],
        letters_stored: bool,
    ) -> int:
        dead = {index: letter for index, letter in letters}
        delay = self._backoff.next_delay() if failed or not letters_stored else 0.0
        processed: Counter[str] = Counter()
        retried: Counter[str] = Counter()
        settled = 0
        for index, message in enumerate(messages):
            event_type = routed.event_types[index]
            if index in dead:
                if letters_stored:
                    await message.ack()
                    settled += 1
                    MESSAGES_FAILED.labels(event_type, dead[index].reason).inc()
                else:
                    await message.retry_later(delay)
                    retried[event_type] += 1
            elif failed.intersection(routed.collections_of(index)):
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


def _refused(routed: RoutedBatch, outcome: CollectionOutcome) -> dict[int, str]:
    messages: dict[int, str] = {}
    for doc_id, detail in outcome.refused.items():
        for index in routed.contributors((outcome.collection, doc_id)):
            messages[index] = detail
    return messages

"""Where batches come from: a JetStream durable pull consumer, or a core queue group."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator

import nats.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from petrosa_common.logging import get_logger
from petrosa_common.metrics.ingest import CONSUMER_ACK_PENDING, CONSUMER_PENDING
from petrosa_common.nats import sync_with_server

log = get_logger(__name__)


class JetStreamMessage:
    """A JetStream message: ack after storing; held (and kept alive) while it is retried."""

    __slots__ = ("_msg", "_settled", "needs_retry")

    def __init__(self, msg: Msg) -> None:
        self._msg = msg
        self._settled = False
        self.needs_retry = False

    @property
    def data(self) -> bytes:
        return self._msg.data

    @property
    def subject(self) -> str:
        return self._msg.subject

    @property
    def stream_sequence(self) -> int | None:
        try:
            return int(self._msg.metadata.sequence.stream)
        except (ValueError, AttributeError, IndexError, nats.errors.Error):
            return None

    @property
    def delivery_count(self) -> int:
        try:
            return int(self._msg.metadata.num_delivered)
        except (ValueError, AttributeError, IndexError, nats.errors.Error):
            return 1

    @property
    def identity(self) -> str:
        """``stream:sequence:hash``: the same on every redelivery, distinct if the stream is
        ever recreated (sequences restart there, contents do not repeat)."""
        try:
            stream = self._msg.metadata.stream
        except (ValueError, AttributeError, IndexError, nats.errors.Error):
            return content_identity(self._msg.data)
        return f"{stream}:{self.stream_sequence}:{_digest(self._msg.data, 8)}"

    async def ack(self) -> None:
        self.needs_retry, self._settled = False, True
        await self._msg.ack()

    async def retry_later(self, delay: float) -> None:
        self.needs_retry = True

    async def keep_alive(self) -> None:
        if not self._settled:
            await self._msg.in_progress()

    async def give_back(self) -> None:
        self._settled = True
        await self._msg.nak()

    async def terminate(self) -> None:
        self.needs_retry, self._settled = False, True
        await self._msg.term()


class CoreMessage:
    """A core NATS message: nothing to acknowledge, and no redelivery to ask for.

    Retrying happens in process, as for JetStream; a message still pending at shutdown is lost
    (core mode is at-most-once).
    """

    __slots__ = ("_msg", "needs_retry")

    def __init__(self, msg: Msg) -> None:
        self._msg = msg
        self.needs_retry = False

    @property
    def data(self) -> bytes:
        return self._msg.data

    @property
    def subject(self) -> str:
        return self._msg.subject

    @property
    def stream_sequence(self) -> int | None:
        return None

    @property
    def delivery_count(self) -> int:
        return 1

    @property
    def identity(self) -> str:
        return content_identity(self._msg.data)

    async def ack(self) -> None:
        self.needs_retry = False

    async def retry_later(self, delay: float) -> None:
        self.needs_retry = True

    async def keep_alive(self) -> None:
        return None

    async def give_back(self) -> None:
        log.error("core_message_lost_on_shutdown", subject=self.subject)

    async def terminate(self) -> None:
        self.needs_retry = False


def content_identity(payload: bytes) -> str:
    """Identity of a message without a stream position: a hash of its content."""
    return f"blake2b:{_digest(payload, 32)}"


def _digest(payload: bytes, size: int) -> str:
    return hashlib.blake2b(payload, digest_size=size).hexdigest()


async def jetstream_batches(
    js: JetStreamContext,
    *,
    stream: str,
    durable: str,
    subject: str,
    batch_size: int,
    fetch_timeout: float,
    stop: asyncio.Event,
) -> AsyncIterator[list[JetStreamMessage]]:
    """Fetch batches from the durable pull consumer until ``stop`` is set."""
    subscription = await js.pull_subscribe(subject, durable=durable, stream=stream)
    try:
        while not stop.is_set():
            try:
                messages = await subscription.fetch(batch_size, timeout=fetch_timeout)
            except (nats.errors.TimeoutError, TimeoutError):
                continue  # nothing arrived within fetch_timeout
            except (nats.errors.ConnectionClosedError, nats.errors.ConnectionReconnectingError):
                await asyncio.sleep(0.5)
                continue
            yield [JetStreamMessage(message) for message in messages]
    finally:
        with contextlib.suppress(Exception):
            await subscription.unsubscribe()


async def poll_consumer_lag(
    js: JetStreamContext, *, stream: str, durable: str, interval: float, stop: asyncio.Event
) -> None:
    """Keep the consumer-lag gauges current until ``stop`` is set."""
    while not stop.is_set():
        try:
            info = await js.consumer_info(stream, durable)
            CONSUMER_PENDING.set(info.num_pending or 0)
            CONSUMER_ACK_PENDING.set(info.num_ack_pending or 0)
        except Exception as exc:  # lag is a metric; never let it stop ingestion
            log.debug("consumer_lag_poll_failed", error=str(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


class CoreSource:
    """Queue-group subscription that groups messages into batches (size or time bound)."""

    def __init__(
        self, nc: NatsClient, *, subject: str, queue: str, batch_size: int, linger: float
    ) -> None:
        self._nc = nc
        self._subject = subject
        self._queue_group = queue
        self._batch_size = batch_size
        self._linger = linger
        self._inbox: asyncio.Queue[Msg] = asyncio.Queue(maxsize=batch_size * 20)
        self._subscription: Subscription | None = None

    async def subscribe(self) -> None:
        """Join the queue group (once); returns when the server has registered it."""

        async def on_message(msg: Msg) -> None:
            await self._inbox.put(msg)

        if self._subscription is None:
            self._subscription = await self._nc.subscribe(
                self._subject,
                queue=self._queue_group,
                cb=on_message,
                pending_msgs_limit=self._batch_size * 100,
            )
        await sync_with_server(self._nc)

    async def batches(self, stop: asyncio.Event) -> AsyncIterator[list[CoreMessage]]:
        """Batches until ``stop``; unsubscribes first and then yields what is buffered."""
        if self._subscription is None:
            await self.subscribe()
        subscription = self._subscription
        assert subscription is not None
        try:
            while not stop.is_set() or not self._inbox.empty():
                if stop.is_set():
                    with contextlib.suppress(Exception):
                        await subscription.unsubscribe()
                batch = await self._collect(stop)
                if batch:
                    yield [CoreMessage(message) for message in batch]
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    async def _collect(self, stop: asyncio.Event) -> list[Msg]:
        batch: list[Msg] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._linger
        while len(batch) < self._batch_size:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._inbox.get(), remaining))
            except TimeoutError:
                break
            while len(batch) < self._batch_size and not self._inbox.empty():
                batch.append(self._inbox.get_nowait())
        return batch

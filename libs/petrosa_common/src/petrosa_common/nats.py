"""NATS connections with reconnect, and JetStream stream/consumer set-up."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import nats
import orjson
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import NotFoundError

from petrosa_common.logging import get_logger

log = get_logger(__name__)


def json_bytes(payload: Any) -> bytes:
    """A NATS request, reply or event body: JSON with datetimes as UTC ``...Z`` strings."""
    return orjson.dumps(payload, option=orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC)


async def sync_with_server(nc: NatsClient) -> None:
    """Return once the server has processed everything sent on ``nc`` so far (SUB, PUB).

    ``nc.flush()`` alone does not promise that with nats-py (2.15, 2.16): it writes its PING
    straight to the socket, ahead of commands still queued for the flusher task, so the PONG can
    come back before the server knows a new subscription, and a request sent from another
    connection then gets "no responders". The first flush lets the flusher write the queue; the
    second PING follows it on the wire.
    """
    await nc.flush()
    await nc.flush()


async def connect_nats(
    url: str,
    *,
    name: str,
    on_state: Callable[[bool], None] | None = None,
    connect_timeout: float = 5.0,
) -> NatsClient:
    """Connect with endless reconnects; ``on_state(connected)`` follows the connection state."""

    def notify(connected: bool) -> Callable[[], Awaitable[None]]:
        async def callback() -> None:
            log.info("nats_connection", connected=connected)
            if on_state is not None:
                on_state(connected)

        return callback

    async def error_cb(exc: Exception) -> None:
        log.warning("nats_error", error=str(exc))

    client: NatsClient = await nats.connect(
        servers=[server.strip() for server in url.split(",")],
        name=name,
        connect_timeout=connect_timeout,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        disconnected_cb=notify(False),
        reconnected_cb=notify(True),
        closed_cb=notify(False),
        error_cb=error_cb,
    )
    if on_state is not None:
        on_state(True)
    return client


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """A file-backed stream capturing ``subjects``, bounded by age and size."""

    name: str
    subjects: list[str]
    max_age_seconds: float
    max_bytes: int


async def ensure_stream(js: JetStreamContext, spec: StreamSpec) -> None:
    """Create the stream, or bring its subjects and limits up to ``spec``."""
    config = StreamConfig(
        name=spec.name,
        subjects=spec.subjects,
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=spec.max_age_seconds,
        max_bytes=spec.max_bytes,
    )
    try:
        await js.stream_info(spec.name)
    except NotFoundError:
        await js.add_stream(config)
        log.info("nats_stream_created", stream=spec.name, subjects=spec.subjects)
    else:
        await js.update_stream(config)


async def ensure_pull_consumer(
    js: JetStreamContext,
    *,
    stream: str,
    durable: str,
    filter_subject: str,
    ack_wait_seconds: float,
    max_ack_pending: int,
) -> None:
    """Create (or update) a durable pull consumer with explicit acks."""
    config = ConsumerConfig(
        durable_name=durable,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait_seconds,
        max_deliver=-1,
        filter_subject=filter_subject,
        max_ack_pending=max_ack_pending,
    )
    await js.add_consumer(stream, config)

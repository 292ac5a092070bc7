"""What every worker service does around its real work: wait for its dependencies at
start-up, check them for readiness, and serve the health endpoints for as long as it runs."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from nats.aio.client import Client as NatsClient
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from petrosa_common.health import Check, Failure, health_server
from petrosa_common.leases import LeaderElector
from petrosa_common.logging import get_logger
from petrosa_common.metrics import NATS_CONNECTION_STATUS
from petrosa_common.mongo import Document, create_mongo_client
from petrosa_common.nats import connect_nats
from petrosa_common.postgres import PgPool, apply_migrations, create_pg_pool
from petrosa_common.settings import CommonSettings, LeaderElectionSettings

log = get_logger(__name__)
T = TypeVar("T")


class StartupAborted(Exception):
    """Shutdown was requested before start-up finished (not an error)."""


def stop_on_signals(stop: asyncio.Event | None = None) -> asyncio.Event:
    """``stop`` (a new event when ``None``), set by SIGTERM or SIGINT from now on (where the
    running loop can take signal handlers: the main thread, not Windows)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    return stop


async def retry_until_ready(
    action: Callable[[], Awaitable[T]],
    what: str,
    stop: asyncio.Event,
    *,
    initial_delay: float = 0.5,
    max_delay: float = 10.0,
) -> T:
    """Run ``action`` until it succeeds, backing off (start-up never crashes on a dependency
    still booting); raises :class:`StartupAborted` as soon as ``stop`` is set."""
    delay = initial_delay
    while not stop.is_set():
        try:
            return await action()
        except Exception as exc:
            log.warning(
                "startup_dependency_unavailable",
                dependency=what,
                error=str(exc),
                retry_in_seconds=round(delay, 2),
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, max_delay)
    raise StartupAborted(what)


def dependency_checks(
    *, nc: NatsClient, db: AsyncDatabase[Document], pool: PgPool
) -> dict[str, Check]:
    """Readiness checks of NATS (connected), MongoDB (ping) and PostgreSQL (``SELECT 1``)."""

    async def check_nats() -> None:
        if not nc.is_connected:
            raise ConnectionError("not connected to NATS")

    async def check_mongo() -> None:
        await db.command("ping")

    async def check_postgres() -> None:
        async with pool.connection() as conn:
            await conn.execute("SELECT 1")

    return {"nats": check_nats, "mongodb": check_mongo, "postgres": check_postgres}


def serve_health(
    stack: contextlib.AsyncExitStack,
    service: str,
    checks: Mapping[str, Check],
    port: int,
    failure: Failure | None = None,
) -> None:
    """Serve ``/health/*`` on ``port`` (0: off) until ``stack`` closes; liveness fails once
    ``failure()`` names a reason."""
    if not port:
        return
    server = health_server(service, checks, port, failure)
    task = asyncio.create_task(server.serve())

    async def stop() -> None:
        server.should_exit = True
        await task

    stack.push_async_callback(stop)


@dataclass(frozen=True, slots=True)
class Connections:
    """A worker's open connections (closed by the exit stack they were opened on)."""

    nc: NatsClient
    mongo: AsyncMongoClient[Document]
    db: AsyncDatabase[Document]
    pool: PgPool


async def open_connections(
    settings: CommonSettings, service: str, stop: asyncio.Event, stack: contextlib.AsyncExitStack
) -> Connections:
    """Connect to NATS, MongoDB and PostgreSQL (waiting for each) and apply the migrations;
    everything is closed when ``stack`` closes. Raises :class:`StartupAborted` on ``stop``."""
    nc: NatsClient = await retry_until_ready(
        lambda: connect_nats(
            settings.nats_url,
            name=service,
            on_state=lambda up: NATS_CONNECTION_STATUS.set(int(up)),
        ),
        "nats",
        stop,
    )
    stack.push_async_callback(_drain, nc)
    mongo = create_mongo_client(settings.mongodb_url, app_name=service)
    stack.push_async_callback(mongo.close)
    db = mongo[settings.mongodb_database]
    await retry_until_ready(lambda: db.command("ping"), "mongodb", stop)
    pool: PgPool = await retry_until_ready(
        lambda: create_pg_pool(
            settings.postgres_url,
            min_size=settings.postgres_pool_min_size,
            max_size=settings.postgres_pool_max_size,
        ),
        "postgres",
        stop,
    )
    stack.push_async_callback(pool.close)
    await retry_until_ready(lambda: apply_migrations(pool), "postgres migrations", stop)
    return Connections(nc, mongo, db, pool)


async def _drain(nc: NatsClient) -> None:
    with contextlib.suppress(Exception):
        await nc.drain()


def start_elector(
    stack: contextlib.AsyncExitStack,
    db: AsyncDatabase[Document],
    settings: LeaderElectionSettings,
    role: str,
) -> LeaderElector:
    """Run the lease election for ``role`` until ``stack`` closes; closing steps down cleanly
    (the lease is released, so a follower takes over at once)."""
    elector = LeaderElector(
        db,
        role=role,
        pod_id=settings.pod_id,
        lease_seconds=settings.leader_election_timeout,
        heartbeat_seconds=settings.leader_election_heartbeat_interval,
        enabled=settings.enable_leader_election,
    )
    elector_stop = asyncio.Event()
    elector_task = asyncio.create_task(elector.run(elector_stop))

    async def stop_elector() -> None:
        elector_stop.set()
        await elector_task

    stack.push_async_callback(stop_elector)
    return elector

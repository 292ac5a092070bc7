"""petrosa-analytics wiring: connections, the lease, the on-demand responder, the scheduler."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import asdict
from typing import Any

import structlog
from nats.aio.client import Client as NatsClient
from petrosa_common.leases import LeaderElector, LostLeadership
from petrosa_common.logging import get_logger
from petrosa_common.nats import json_bytes
from petrosa_common.runtime import (
    StartupAborted,
    dependency_checks,
    open_connections,
    retry_until_ready,
    serve_health,
    start_elector,
    stop_on_signals,
)

from petrosa_analytics import nats_api, store
from petrosa_analytics.cycle import AnalyticsCycle
from petrosa_analytics.settings import AnalyticsSettings

log = get_logger(__name__)
SERVICE_NAME = "petrosa-analytics"
ROLE = "analytics"


async def run(
    settings: AnalyticsSettings, stop: asyncio.Event | None = None, *, once: bool = False
) -> int:
    """Run until ``stop`` (or SIGTERM/SIGINT); with ``once``, one cycle as leader then exit.

    Returns the process exit code.
    """
    stop = stop_on_signals(stop)
    try:
        async with contextlib.AsyncExitStack() as stack:
            return await _run(settings, stop, stack, once=once)
    except StartupAborted as aborted:
        log.info("analytics_stopped_during_startup", waiting_for=str(aborted))
        return 0


async def _run(
    settings: AnalyticsSettings,
    stop: asyncio.Event,
    stack: contextlib.AsyncExitStack,
    *,
    once: bool,
) -> int:
    connections = await open_connections(settings, SERVICE_NAME, stop, stack)
    nc, db, pool = connections.nc, connections.db, connections.pool
    await retry_until_ready(lambda: store.ensure_indexes(db), "mongodb indexes", stop)

    elector = start_elector(stack, db, settings, ROLE)
    serve_health(
        stack, SERVICE_NAME, dependency_checks(nc=nc, db=db, pool=pool), settings.health_port
    )
    if settings.analytics_compute_enabled and not once:
        await nats_api.serve(nc, nats_api.OnDemand(db, settings))

    async def publish(subject: str, payload: dict[str, Any]) -> None:
        await _publish(nc, subject, payload)

    cycle = AnalyticsCycle(
        db=db, pool=pool, settings=settings, verify=elector.verify, publish=publish
    )
    log.info(
        "analytics_started",
        pairs=settings.supported_pairs,
        timeframes=settings.analytics_timeframes,
        interval=settings.analytics_interval,
    )
    return await _schedule(cycle, elector, settings, stop, once=once)


async def _publish(nc: NatsClient, subject: str, payload: dict[str, Any]) -> None:
    with contextlib.suppress(Exception):  # an event is news, not a duty: never fail the cycle
        await nc.publish(subject, json_bytes(payload))


async def _schedule(
    cycle: AnalyticsCycle,
    elector: LeaderElector,
    settings: AnalyticsSettings,
    stop: asyncio.Event,
    *,
    once: bool,
) -> int:
    """A cycle every ANALYTICS_INTERVAL while leader; followers wait (and say so)."""
    # Leadership is a local check (no I/O): poll it often so a new leader starts at once.
    poll = min(1.0, settings.leader_election_heartbeat_interval, settings.analytics_interval)
    last_follower_log = 0.0
    while not stop.is_set():
        if elector.is_leader:
            started = time.monotonic()
            with structlog.contextvars.bound_contextvars(role="LEADER", term=elector.term):
                try:
                    report = await cycle.run()
                    log.info("analytics_cycle_completed", **asdict(report))
                    if once:
                        return 0
                except LostLeadership as exc:
                    log.warning("analytics_cycle_aborted", reason="leadership lost", error=str(exc))
                except Exception:
                    log.exception("analytics_cycle_failed")
                    if once:
                        return 1
            wait = max(0.0, settings.analytics_interval - (time.monotonic() - started))
        else:
            if time.monotonic() - last_follower_log >= settings.analytics_interval:
                with structlog.contextvars.bound_contextvars(role="FOLLOWER"):
                    log.info("analytics_cycle_skipped", reason="not the leader")
                last_follower_log = time.monotonic()
            wait = poll
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), wait)
    return 0

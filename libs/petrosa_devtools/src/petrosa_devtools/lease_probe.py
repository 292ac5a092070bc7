"""A tiny leader-elected process for multi-process lease tests.

``python -m petrosa_devtools.lease_probe --mongodb-url URL --database DB --role R --pod-id P``
runs a :class:`~petrosa_common.leases.LeaderElector` and, every ``--interval`` seconds while it
is leader, calls ``verify()`` and only then records an action ``{pod_id, term, checked_at,
verified_at, monotonic, pid}`` in ``lease_actions`` (the fencing pattern a real leader-only job
follows). ``checked_at`` is this host's wall clock when the verification began, ``verified_at``
when it succeeded. The probe also keeps ``lease_probe_status`` (``_id`` = pod id) up to date:
``is_leader``, ``term``, ``at`` — written on every change and at least once a second.
SIGTERM or SIGINT steps down and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from datetime import UTC, datetime

from petrosa_common.leases import LeaderElector, LostLeadership
from petrosa_common.logging import configure_logging, get_logger
from petrosa_common.mongo import Document, create_mongo_client
from petrosa_common.runtime import stop_on_signals
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

ACTIONS_COLLECTION = "lease_actions"
STATUS_COLLECTION = "lease_probe_status"
STATUS_EVERY_SECONDS = 1.0

_log = get_logger(__name__)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m petrosa_devtools.lease_probe")
    parser.add_argument("--mongodb-url", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--role", required=True)
    parser.add_argument("--pod-id", required=True)
    parser.add_argument("--lease", type=float, default=3.0, help="lease seconds")
    parser.add_argument("--heartbeat", type=float, default=0.5, help="heartbeat seconds")
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between actions")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


async def _act(db: AsyncDatabase[Document], elector: LeaderElector) -> None:
    """One leader-only action, done only after ``verify()`` succeeded."""
    checked_at = datetime.now(UTC)
    try:
        term = await elector.verify()
    except LostLeadership as exc:
        _log.info("action skipped", pod_id=elector.pod_id, reason=str(exc))
        return
    await db[ACTIONS_COLLECTION].insert_one(
        {
            "pod_id": elector.pod_id,
            "term": term,
            "checked_at": checked_at,
            "verified_at": datetime.now(UTC),
            "monotonic": time.monotonic(),
            "pid": os.getpid(),
        }
    )


async def _write_status(db: AsyncDatabase[Document], elector: LeaderElector) -> None:
    await db[STATUS_COLLECTION].update_one(
        {"_id": elector.pod_id},
        {
            "$set": {
                "is_leader": elector.is_leader,
                "term": elector.term,
                "at": datetime.now(UTC),
                "pid": os.getpid(),
            }
        },
        upsert=True,
    )


async def _work(
    db: AsyncDatabase[Document], elector: LeaderElector, stop: asyncio.Event, interval: float
) -> None:
    last_status: tuple[bool, int | None] | None = None
    status_due = 0.0
    while not stop.is_set():
        try:
            if elector.is_leader:
                await _act(db, elector)
            status = (elector.is_leader, elector.term)
            if status != last_status or time.monotonic() >= status_due:
                await _write_status(db, elector)
                last_status = status
                status_due = time.monotonic() + STATUS_EVERY_SECONDS
        except PyMongoError as exc:
            _log.warning("probe write failed", pod_id=elector.pod_id, error=repr(exc))
        try:
            async with asyncio.timeout(interval):
                await stop.wait()
        except TimeoutError:
            pass


async def main_async(args: argparse.Namespace) -> None:
    """Run the elector and the action loop until SIGTERM/SIGINT."""
    stop = stop_on_signals()
    client = create_mongo_client(args.mongodb_url, app_name=f"lease-probe-{args.pod_id}")
    try:
        db = client[args.database]
        elector = LeaderElector(
            db,
            role=args.role,
            pod_id=args.pod_id,
            lease_seconds=args.lease,
            heartbeat_seconds=args.heartbeat,
        )
        _log.info("lease probe started", pod_id=args.pod_id, role=args.role, pid=os.getpid())
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(elector.run(stop))
            tasks.create_task(_work(db, elector, stop, args.interval))
        await _write_status(db, elector)
    finally:
        await client.close()
    _log.info("lease probe stopped", pod_id=args.pod_id)


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m petrosa_devtools.lease_probe``."""
    args = _parse(argv)
    configure_logging("lease-probe", args.log_level)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()

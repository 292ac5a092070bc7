"""End to end: leader election between real processes on a real MongoDB-wire server.

Each process is ``python -m petrosa_devtools.lease_probe``: a LeaderElector plus a loop that,
every 100 ms while leader, calls ``verify()`` and only then records an action
``{pod_id, term, checked_at, verified_at}`` in ``lease_actions``. The tests kill -9, SIGTERM
and SIGSTOP/SIGCONT leaders and then read the lease document, the actions and the logs.
All wall-clock times compared here come from this one host.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from petrosa_common.naming import LEADER_ELECTION_COLLECTION
from petrosa_devtools.infra import InfraUrls
from petrosa_devtools.lease_probe import ACTIONS_COLLECTION, STATUS_COLLECTION
from petrosa_devtools.processes import ServiceProcess
from pymongo.asynchronous.database import AsyncDatabase

pytestmark = pytest.mark.e2e

Document = dict[str, Any]
T = TypeVar("T")
ROLE = "auditor"
LEASE = 3.0
HEARTBEAT = 0.5
# Scheduling slack on a loaded 2-core machine: a poll of the test, a request, a wake-up late.
SLACK = 1.0
StartProbe = Callable[[str], ServiceProcess]


@pytest.fixture
def start_probe(
    infra_urls: InfraUrls, mongo_db: AsyncDatabase[Document], tmp_path: Path
) -> Iterator[StartProbe]:
    """Start lease probes on this test's database; all are resumed and stopped afterwards."""
    started: list[ServiceProcess] = []

    def _start(pod_id: str) -> ServiceProcess:
        command = [sys.executable, "-m", "petrosa_devtools.lease_probe"]
        command += ["--mongodb-url", infra_urls.mongodb_url, "--database", mongo_db.name]
        command += ["--role", ROLE, "--pod-id", pod_id]
        command += ["--lease", str(LEASE), "--heartbeat", str(HEARTBEAT), "--interval", "0.1"]
        probe = ServiceProcess(command, {}, tmp_path / f"{pod_id}.log")
        probe.module = f"lease probe {pod_id}"
        started.append(probe.start())
        return probe

    try:
        yield _start
    finally:
        for probe in started:
            if probe.running:
                assert probe.process is not None
                probe.process.send_signal(signal.SIGCONT)  # a stopped process ignores SIGTERM
                probe.stop(timeout=10)


async def eventually(
    probe: Callable[[], Awaitable[T | None]], timeout: float, what: str, step: float = 0.05
) -> T:
    """Poll ``probe`` until it returns something; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(step)


async def lease(db: AsyncDatabase[Document]) -> Document | None:
    return await db[LEADER_ELECTION_COLLECTION].find_one({"_id": ROLE})


async def actions(db: AsyncDatabase[Document]) -> list[Document]:
    return await db[ACTIONS_COLLECTION].find({}).sort("verified_at", 1).to_list()


def by_pod(docs: list[Document], pod_id: str) -> list[Document]:
    return [doc for doc in docs if doc["pod_id"] == pod_id]


async def new_leader(
    db: AsyncDatabase[Document], *, after_term: int, timeout: float
) -> tuple[Document, float]:
    """Wait for a lease with a higher term; returns it and how long that took."""
    began = time.monotonic()

    async def check() -> Document | None:
        doc = await lease(db)
        return doc if doc and doc["term"] > after_term and doc["status"] == "leader" else None

    doc = await eventually(check, timeout, f"a leader with a term above {after_term}", 0.02)
    return doc, time.monotonic() - began


async def acting(db: AsyncDatabase[Document], pod_id: str, term: int, count: int = 5) -> None:
    """Wait until ``pod_id`` has recorded ``count`` actions in ``term``."""

    async def check() -> bool | None:
        done = await db[ACTIONS_COLLECTION].count_documents({"pod_id": pod_id, "term": term})
        return True if done >= count else None

    await eventually(check, 10, f"{pod_id} acting in term {term}")


def assert_fenced(docs: list[Document], *, end: str = "verified_at") -> dict[int, str]:
    """One pod per term, and a term's actions all end before the next term's begin."""
    pods: dict[int, set[str]] = defaultdict(set)
    first: dict[int, datetime] = {}
    last: dict[int, datetime] = {}
    for doc in docs:
        term = doc["term"]
        pods[term].add(doc["pod_id"])
        first[term] = min(first.get(term, doc["checked_at"]), doc["checked_at"])
        last[term] = max(last.get(term, doc[end]), doc[end])
    assert all(len(holders) == 1 for holders in pods.values()), dict(pods)
    terms = sorted(pods)
    for older, newer in itertools.pairwise(terms):
        assert last[older] < first[newer], (older, last[older], newer, first[newer])
    return {term: next(iter(holders)) for term, holders in pods.items()}


def log_events(probe: ServiceProcess) -> list[Document]:
    lines = probe.log_path.read_text(errors="replace").splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def process_state(probe: ServiceProcess) -> str:
    """The kernel's state letter of the process (``T`` = stopped)."""
    assert probe.process is not None
    stat = Path(f"/proc/{probe.process.pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0]


async def test_one_leader_at_a_time_through_kill_9_and_graceful_hand_over(
    mongo_db: AsyncDatabase[Document], start_probe: StartProbe
) -> None:
    launched = time.monotonic()
    probes = {pod: start_probe(pod) for pod in ("p1", "p2", "p3")}
    first, _ = await new_leader(mongo_db, after_term=0, timeout=30)
    first_election = time.monotonic() - launched
    assert first["term"] == 1
    leader1 = first["pod_id"]
    await acting(mongo_db, leader1, 1, count=10)
    for _ in range(20):  # 2 s of steady state: the same holder and term throughout
        doc = await lease(mongo_db)
        assert doc is not None
        assert (doc["pod_id"], doc["term"]) == (leader1, 1)
        await asyncio.sleep(0.1)

    # kill -9: nothing is released; the lease must run out first.
    probes[leader1].kill9()
    killed_at = datetime.now(UTC)
    second, failover = await new_leader(mongo_db, after_term=1, timeout=LEASE + HEARTBEAT + 10)
    assert second["term"] == 2
    leader2 = second["pod_id"]
    assert leader2 != leader1
    # The dead leader renewed at most a heartbeat before dying: not earlier than lease -
    # heartbeat (that would be two leaders), not later than lease + one follower poll.
    assert LEASE - HEARTBEAT - 0.2 <= failover <= LEASE + HEARTBEAT + SLACK
    await acting(mongo_db, leader2, 2)

    # SIGTERM: the leader steps down and releases; the last follower takes over at once.
    stopped = time.monotonic()
    assert probes[leader2].stop() == 0
    third, _ = await new_leader(mongo_db, after_term=2, timeout=LEASE + HEARTBEAT + 10)
    hand_over = time.monotonic() - stopped
    assert third["term"] == 3
    leader3 = third["pod_id"]
    assert leader3 not in (leader1, leader2)
    assert hand_over < HEARTBEAT + SLACK < LEASE - HEARTBEAT  # no waiting for expiry
    await acting(mongo_db, leader3, 3)
    assert probes[leader3].stop() == 0

    done = await actions(mongo_db)
    assert assert_fenced(done) == {1: leader1, 2: leader2, 3: leader3}
    assert max(doc["verified_at"] for doc in by_pod(done, leader1)) < killed_at
    print(
        f"\nfirst election {first_election:.2f} s after launch; kill -9 failover "
        f"{failover:.2f} s (lease {LEASE} s, heartbeat {HEARTBEAT} s); "
        f"SIGTERM hand-over {hand_over:.2f} s; {len(done)} actions"
    )


async def test_sigstopped_leader_resumed_after_its_lease_does_not_act_and_follows(
    mongo_db: AsyncDatabase[Document], start_probe: StartProbe
) -> None:
    probes = {pod: start_probe(pod) for pod in ("p1", "p2")}
    first, _ = await new_leader(mongo_db, after_term=0, timeout=30)
    paused = first["pod_id"]
    (other,) = set(probes) - {paused}
    await acting(mongo_db, paused, 1, count=10)

    probe = probes[paused]
    assert probe.process is not None
    probe.process.send_signal(signal.SIGSTOP)
    while process_state(probe) != "T":  # from here on it cannot run a single instruction
        await asyncio.sleep(0.001)
    stopped_at = datetime.now(UTC)
    stopped = time.monotonic()

    second, failover = await new_leader(mongo_db, after_term=1, timeout=LEASE + HEARTBEAT + 10)
    assert (second["pod_id"], second["term"]) == (other, 2)
    assert LEASE - HEARTBEAT - 0.2 <= failover <= LEASE + HEARTBEAT + SLACK
    await acting(mongo_db, other, 2)
    await asyncio.sleep(max(0.0, LEASE + HEARTBEAT + 0.5 - (time.monotonic() - stopped)))

    probe.process.send_signal(signal.SIGCONT)
    resumed_at = datetime.now(UTC)

    async def follows() -> Document | None:
        status = await mongo_db[STATUS_COLLECTION].find_one({"_id": paused})
        if status is None or status["at"] <= resumed_at or status["is_leader"]:
            return None
        return status

    status = await eventually(follows, 5, f"{paused} reports itself a follower after SIGCONT")
    assert status["term"] is None
    await asyncio.sleep(2.0)  # four heartbeats in which it could misbehave
    assert probe.running

    done = await actions(mongo_db)
    assert assert_fenced(done, end="checked_at") == {1: paused, 2: other}
    mine = by_pod(done, paused)
    # No verification began after the stop: every action it recorded was decided before.
    assert mine
    assert all(doc["checked_at"] < stopped_at for doc in mine)
    assert {doc["term"] for doc in mine} == {1}
    assert any(doc["checked_at"] > resumed_at for doc in by_pod(done, other))
    doc = await lease(mongo_db)
    assert doc is not None
    assert (doc["pod_id"], doc["term"]) == (other, 2)  # it did not take the lease back
    events = [event for event in log_events(probe) if event.get("term") == 1]
    assert any(event["event"] == "leadership lost" for event in events), probe.log_tail()
    print(
        f"\nSIGSTOP failover {failover:.2f} s; paused pod's last action "
        f"{(stopped_at - max(d['verified_at'] for d in mine)).total_seconds():.3f} s before "
        f"the stop; {len(done)} actions"
    )

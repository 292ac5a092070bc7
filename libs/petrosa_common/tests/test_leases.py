"""Leader election on a real MongoDB-wire server (FerretDB locally), in one process.

Short leases (2-3 s, heartbeat 0.5 s) keep the tests quick; every timing assertion has a
lower bound too, so that "too early" (unsafe) fails as well as "too late".
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from petrosa_common.leases import (
    RELEASED,
    LeaderElector,
    LostLeadership,
    OnChange,
    safety_margin,
)
from petrosa_common.metrics import ERRORS
from petrosa_common.mongo import Document, server_time
from petrosa_common.naming import LEADER_ELECTION_COLLECTION
from petrosa_devtools.infra import InfraUrls
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

ROLE = "auditor"
LEASE = 2.0
HEARTBEAT = 0.5
MARGIN = safety_margin(LEASE)

pytestmark = pytest.mark.integration


def make(
    db: AsyncDatabase[Document],
    pod_id: str,
    *,
    lease: float = LEASE,
    enabled: bool = True,
    on_change: OnChange | None = None,
) -> LeaderElector:
    return LeaderElector(
        db,
        role=ROLE,
        pod_id=pod_id,
        lease_seconds=lease,
        heartbeat_seconds=HEARTBEAT,
        enabled=enabled,
        on_change=on_change,
    )


class Running:
    """An elector's ``run()`` as a task: ``stop()`` steps down, ``abandon()`` just dies."""

    def __init__(self, elector: LeaderElector) -> None:
        self.elector = elector
        self.stop_event = asyncio.Event()
        self.task = asyncio.create_task(elector.run(self.stop_event))

    async def stop(self) -> None:
        self.stop_event.set()
        await self.task

    async def abandon(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


@pytest.fixture(autouse=True)
async def lease_collection(mongo_db: AsyncDatabase[Document]) -> None:
    """Connect and create the lease collection before the test: on a cold FerretDB, the first
    write of a fresh database (connection, database and table creation) can outlast the short
    request timeout these leases give (0.67 s), which is not what the tests are about."""
    await mongo_db.create_collection(LEADER_ELECTION_COLLECTION)


@pytest.fixture
async def start() -> AsyncIterator[Callable[[LeaderElector], Running]]:
    """Start electors' run loops; whatever is still running at the end is cancelled."""
    started: list[Running] = []

    def _start(elector: LeaderElector) -> Running:
        running = Running(elector)
        started.append(running)
        return running

    yield _start
    for running in started:
        await running.abandon()


async def wait_until(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``check`` every 20 ms; returns the seconds it took."""
    began = time.monotonic()
    while not check():
        if time.monotonic() - began > timeout:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.02)
    return time.monotonic() - began


async def lease_doc(db: AsyncDatabase[Document]) -> Document:
    doc = await db[LEADER_ELECTION_COLLECTION].find_one({"_id": ROLE})
    assert doc is not None
    return doc


async def test_first_elector_leads_with_term_1_and_the_next_follows(
    mongo_db: AsyncDatabase[Document],
) -> None:
    a, b = make(mongo_db, "pod-a"), make(mongo_db, "pod-b")
    assert await a.try_acquire()
    assert not await b.try_acquire()
    assert (a.is_leader, a.term, b.is_leader, b.term) == (True, 1, False, None)
    assert await a.verify() == 1
    with pytest.raises(LostLeadership):
        await b.verify()
    doc = await lease_doc(mongo_db)
    assert (doc["pod_id"], doc["term"], doc["status"]) == ("pod-a", 1, "leader")
    assert doc["expires_at"] - doc["last_heartbeat"] == timedelta(seconds=LEASE)
    assert doc["elected_at"] == doc["last_heartbeat"] == doc["updated_at"]


async def test_concurrent_first_election_has_exactly_one_winner(
    mongo_db: AsyncDatabase[Document],
) -> None:
    electors = [make(mongo_db, f"pod-{n}") for n in range(6)]
    won = await asyncio.gather(*(elector.try_acquire() for elector in electors))
    assert sum(won) == 1
    (winner,) = (elector for elector, ok in zip(electors, won, strict=True) if ok)
    doc = await lease_doc(mongo_db)
    assert (doc["pod_id"], doc["term"]) == (winner.pod_id, 1)


async def test_lease_times_come_from_the_database_server(
    mongo_db: AsyncDatabase[Document],
) -> None:
    before = await server_time(mongo_db.client)
    assert await make(mongo_db, "pod-a").try_acquire()
    after = await server_time(mongo_db.client)
    doc = await lease_doc(mongo_db)
    assert before <= doc["last_heartbeat"] <= after
    assert doc["expires_at"] == doc["last_heartbeat"] + timedelta(seconds=LEASE)


async def test_renewals_keep_the_term_and_the_leader_past_its_first_lease(
    mongo_db: AsyncDatabase[Document], start: Callable[[LeaderElector], Running]
) -> None:
    a, b = make(mongo_db, "pod-a"), make(mongo_db, "pod-b")
    leader = start(a)
    await wait_until(lambda: a.is_leader, 5, "pod-a leads")
    follower = start(b)
    first = await lease_doc(mongo_db)
    began = time.monotonic()
    while time.monotonic() - began < 2 * LEASE:  # two whole leases: only renewals keep it
        assert a.is_leader
        assert a.term == 1
        assert not b.is_leader
        await asyncio.sleep(0.05)
    later = await lease_doc(mongo_db)
    assert (later["pod_id"], later["term"], later["elected_at"]) == (
        "pod-a",
        1,
        first["elected_at"],
    )
    assert later["last_heartbeat"] > first["last_heartbeat"] + timedelta(seconds=LEASE)
    await follower.stop()
    await leader.stop()


async def test_step_down_lets_a_follower_take_over_at_once_with_the_next_term(
    mongo_db: AsyncDatabase[Document], start: Callable[[LeaderElector], Running]
) -> None:
    lease = 3.0  # expiry would need >= lease - heartbeat = 2.5 s; a hand-over takes ~0.5 s
    changes: list[tuple[bool, int | None]] = []
    a = make(mongo_db, "pod-a", lease=lease, on_change=lambda *change: changes.append(change))
    b = make(mongo_db, "pod-b", lease=lease)
    leader = start(a)
    await wait_until(lambda: a.is_leader, 5, "pod-a leads")
    start(b)
    await asyncio.sleep(0.6)  # b has polled at least once and follows
    assert not b.is_leader
    stopped_at = time.monotonic()
    await leader.stop()
    assert not a.is_leader
    assert (await lease_doc(mongo_db))["status"] == RELEASED
    await wait_until(lambda: b.is_leader, lease, "pod-b takes over")
    took = time.monotonic() - stopped_at  # the release included
    assert took < HEARTBEAT + 1.0 < lease - HEARTBEAT
    assert b.term == 2
    doc = await lease_doc(mongo_db)
    assert (doc["pod_id"], doc["term"], doc["status"]) == ("pod-b", 2, "leader")
    assert changes == [(True, 1), (False, None)]


async def test_step_down_racing_a_renewal_in_flight_stays_stepped_down(
    mongo_db: AsyncDatabase[Document],
) -> None:
    a = make(mongo_db, "pod-a")
    assert await a.try_acquire()
    renewal = asyncio.create_task(a.try_acquire())
    await asyncio.sleep(0)  # the renewal has started and waits for the database
    await a.step_down()
    assert not await renewal
    assert (a.is_leader, a.term) == (False, None)
    assert (await lease_doc(mongo_db))["status"] == RELEASED


async def test_terms_strictly_increase_across_hand_overs(
    mongo_db: AsyncDatabase[Document],
) -> None:
    electors = [make(mongo_db, f"pod-{n}") for n in range(3)]
    terms = []
    for round_ in range(6):
        elector = electors[round_ % 3]
        assert await elector.try_acquire()
        terms.append(elector.term)
        for other in electors:
            if other is not elector:
                assert not await other.try_acquire()
        await elector.step_down()
    assert terms == [1, 2, 3, 4, 5, 6]


async def test_silent_leader_is_replaced_within_lease_plus_heartbeat_never_overlapping(
    mongo_db: AsyncDatabase[Document], start: Callable[[LeaderElector], Running]
) -> None:
    a, b = make(mongo_db, "pod-a"), make(mongo_db, "pod-b")
    leader = start(a)
    await wait_until(lambda: a.is_leader, 5, "pod-a leads")
    start(b)
    await asyncio.sleep(1.0)
    await leader.abandon()  # dies without stepping down: the lease must expire
    died = time.monotonic()
    both = False
    a_stopped = None
    while not b.is_leader:
        both = both or (a.is_leader and b.is_leader)
        if a_stopped is None and not a.is_leader:
            a_stopped = time.monotonic() - died
        assert time.monotonic() - died < LEASE + HEARTBEAT + 1.5, "pod-b never took over"
        await asyncio.sleep(0.01)
    took = time.monotonic() - died
    assert not both
    # Its last renewal was at most one heartbeat before it died; it stops acting a safety
    # margin before the lease ends; the follower needs the lease to end, then one poll.
    assert a_stopped is not None
    assert LEASE - MARGIN - HEARTBEAT - 0.3 <= a_stopped <= LEASE - MARGIN + 0.05
    assert LEASE - HEARTBEAT - 0.1 <= took <= LEASE + HEARTBEAT + 0.7
    assert b.term == 2
    with pytest.raises(LostLeadership):
        await a.verify()


async def test_verify_raises_after_a_takeover_the_local_deadline_has_not_seen(
    mongo_db: AsyncDatabase[Document],
) -> None:
    a, b = make(mongo_db, "pod-a"), make(mongo_db, "pod-b")
    assert await a.try_acquire()
    assert await a.verify() == 1
    # Server time runs on (or a clock misbehaves): the lease has expired in the database
    # while pod-a's local deadline still says it leads.
    await mongo_db[LEADER_ELECTION_COLLECTION].update_one(
        {"_id": ROLE}, {"$set": {"expires_at": (await lease_doc(mongo_db))["elected_at"]}}
    )
    assert await b.try_acquire()
    assert a.is_leader  # locally it still believes it...
    with pytest.raises(LostLeadership, match="held by pod-b with term 2"):
        await a.verify()  # ...but the fencing check refuses
    assert (a.is_leader, a.term) == (False, None)
    assert await b.verify() == 2
    assert not await a.try_acquire()


async def test_verify_refuses_a_lease_overwritten_in_the_same_term(
    mongo_db: AsyncDatabase[Document],
) -> None:
    # FerretDB's findAndModify is read-then-replace: two racing takeovers can both be told
    # they won term N while the database keeps the last writer. verify() must catch it.
    a = make(mongo_db, "pod-a")
    assert await a.try_acquire()
    await mongo_db[LEADER_ELECTION_COLLECTION].update_one(
        {"_id": ROLE}, {"$set": {"pod_id": "pod-z"}}
    )
    with pytest.raises(LostLeadership):
        await a.verify()
    assert not a.is_leader


class Blackhole:
    """A TCP proxy to the database that can be cut: then it swallows all traffic (a partition)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.cut = False
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        if self.cut:
            await self._pipe(reader, None)
            return
        up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        self._writers.append(up_writer)
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter | None) -> None:
        with contextlib.suppress(ConnectionError):
            while chunk := await source.read(65536):
                if sink is not None and not self.cut:
                    sink.write(chunk)
                    await sink.drain()

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for writer in self._writers:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        await self._server.wait_closed()


def leader_election_errors() -> float:
    return sum(
        sample.value
        for metric in ERRORS.collect()
        for sample in metric.samples
        if sample.name.endswith("_total") and sample.labels["component"] == "leader_election"
    )


async def test_leader_that_cannot_renew_stops_by_itself_at_its_local_deadline(
    mongo_db: AsyncDatabase[Document],
    infra_urls: InfraUrls,
    start: Callable[[LeaderElector], Running],
) -> None:
    target = urlsplit(infra_urls.mongodb_url.split(",")[0])
    proxy = Blackhole(target.hostname or "127.0.0.1", target.port or 27017)
    port = await proxy.start()
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        f"mongodb://127.0.0.1:{port}/?directConnection=true", tz_aware=True
    )
    try:
        changes: list[tuple[bool, int | None]] = []
        a = make(client[mongo_db.name], "pod-a", on_change=lambda *change: changes.append(change))
        b = make(mongo_db, "pod-b")
        running = start(a)
        await wait_until(lambda: a.is_leader, 5, "pod-a leads")
        await asyncio.sleep(1.0)
        errors_before = leader_election_errors()
        proxy.cut = True  # every request of pod-a now hangs
        lapsed = await wait_until(lambda: not a.is_leader, LEASE + 1, "pod-a stops leading")
        # Its last successful renewal was sent at most a heartbeat (plus a round trip) before
        # the cut; it stops at that moment + lease - margin, not before, not after.
        assert LEASE - MARGIN - HEARTBEAT - 0.3 <= lapsed <= LEASE - MARGIN + 0.05
        await wait_until(lambda: changes[-1:] == [(False, None)], 1.5, "lapse reported")
        assert changes == [(True, 1), (False, None)]
        assert not running.task.done()  # errors are logged and counted, never raised
        await wait_until(lambda: leader_election_errors() > errors_before, 2, "errors counted")
        start(b)
        await wait_until(lambda: b.is_leader, LEASE + 1, "pod-b takes over")
        assert (b.term, (await lease_doc(mongo_db))["pod_id"]) == (2, "pod-b")
        with pytest.raises(LostLeadership):
            await a.verify()
        await running.stop()  # the release cannot get through; stopping still finishes
    finally:
        await proxy.close()  # first: the client's monitor would otherwise wait on a dead socket
        await client.close()


async def test_disabled_election_is_always_leader_and_writes_nothing(
    mongo_db: AsyncDatabase[Document],
) -> None:
    changes: list[tuple[bool, int | None]] = []
    solo = make(mongo_db, "pod-a", enabled=False, on_change=lambda *c: changes.append(c))
    assert (solo.is_leader, solo.term) == (True, 0)
    assert await solo.try_acquire()
    assert await solo.verify() == 0
    stop = asyncio.Event()
    task = asyncio.create_task(solo.run(stop))
    await asyncio.sleep(0.3)
    stop.set()
    await task
    await solo.step_down()
    assert (solo.is_leader, solo.term) == (True, 0)
    assert changes == [(True, 0)]
    assert await mongo_db[LEADER_ELECTION_COLLECTION].find_one({}) is None
    assert await mongo_db.list_collection_names() == [LEADER_ELECTION_COLLECTION]


def test_heartbeat_must_fit_inside_the_lease(mongo_db: AsyncDatabase[Document]) -> None:
    with pytest.raises(ValueError, match="heartbeat"):
        LeaderElector(mongo_db, role=ROLE, pod_id="p", lease_seconds=2, heartbeat_seconds=1.9)

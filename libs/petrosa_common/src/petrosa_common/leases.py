"""Leader election with MongoDB leases and fencing terms.

One lease document per role in ``leader_election``::

    {_id: role, status: "leader" | "released", pod_id, term,
     elected_at, last_heartbeat, expires_at, updated_at}

Invariants (stated here, enforced below):

- Every acquisition and renewal is ONE atomic ``find_one_and_update``. A takeover (the lease
  is missing, expired or released) increments ``term``; a renewal keeps it. So ``term`` grows
  strictly across holders and is the fencing token of a leadership.
- ``expires_at`` and every comparison with it use the database server's clock
  (``hello.localTime``), never this host's wall clock: skewed hosts still agree.
- Locally, a leader believes itself leader only until ``sent + lease - margin`` on
  ``time.monotonic()``, where ``sent`` is taken before the server clock was read for the
  acquiring request. That deadline always falls before the lease's ``expires_at`` (which is
  the earliest moment another pod can take over), so a leader that cannot renew, or that was
  paused (GC, SIGSTOP, VM freeze), has stopped acting before anyone else starts.
- Callers run :meth:`LeaderElector.verify` right before every leader-only destructive action
  and pass the returned term along with it (fencing).
- No TTL index is involved: liveness is ``expires_at`` compared with the server's clock.

FerretDB 1.x (the local test server) implements ``findAndModify`` as a read followed by a
separate replace (``internal/handler/msg_findandmodify.go``), so two pods racing for an
expired lease can both be told they won the same term; the last write stays in the
database. :meth:`~LeaderElector.verify` re-reads the lease and rejects the overwritten pod,
and followers poll with jitter to make such races rare. MongoDB applies the update
atomically, which is what production runs on.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure, PyMongoError

from petrosa_common.logging import get_logger
from petrosa_common.metrics import ERRORS, LEADER_STATUS, LEADER_TRANSITIONS
from petrosa_common.mongo import server_time
from petrosa_common.naming import LEADER_ELECTION_COLLECTION

Document = dict[str, Any]
OnChange = Callable[[bool, int | None], None]

LEADER: Final = "leader"
RELEASED: Final = "released"
DISABLED_TERM: Final = 0
_DUPLICATE_KEY: Final = 11000

_log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class LeaseState:
    """A role's lease as stored, read by observers (health endpoints, tests)."""

    role: str
    status: str | None
    holder: str | None
    term: int | None
    elected_at: datetime | None
    last_heartbeat: datetime | None
    expires_at: datetime | None

    def expired(self, now: datetime) -> bool:
        """Whether nobody holds the role at ``now`` (released, or the lease ran out)."""
        return self.status != LEADER or self.expires_at is None or self.expires_at <= now

    @classmethod
    def from_document(cls, lease: Mapping[str, Any]) -> LeaseState:
        """The state of one ``leader_election`` document."""
        term = lease.get("term")
        return cls(
            role=str(lease["_id"]),
            status=lease.get("status"),
            holder=lease.get("pod_id"),
            term=int(term) if isinstance(term, int) else None,
            elected_at=_aware(lease.get("elected_at")),
            last_heartbeat=_aware(lease.get("last_heartbeat")),
            expires_at=_aware(lease.get("expires_at")),
        )


async def read_leases(db: AsyncDatabase[Document]) -> list[LeaseState]:
    """Every role's lease, by role (observers only: electors read their own lease)."""
    cursor = db[LEADER_ELECTION_COLLECTION].find({}).sort("_id", 1)
    return [LeaseState.from_document(lease) async for lease in cursor]


class LostLeadership(Exception):
    """This process is not, or can no longer prove it is, the leader of its role."""


def safety_margin(lease_seconds: float) -> float:
    """How long before its lease ends a leader stops acting: ``min(1 s, lease / 10)``."""
    return min(1.0, lease_seconds / 10)


def _aware(value: object) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class LeaderElector:
    """Holds (or waits for) the leader lease of one role on behalf of one process.

    ``pod_id`` must be unique per process. Run :meth:`run` as a task; read :attr:`is_leader`
    to decide whether to do leader work and call :meth:`verify` right before any
    leader-only destructive action. ``enabled=False`` makes this process leader forever
    (term 0) without touching the database, for single-replica deployments.
    """

    def __init__(
        self,
        db: AsyncDatabase[Document],
        *,
        role: str,
        pod_id: str,
        lease_seconds: float = 30.0,
        heartbeat_seconds: float = 10.0,
        enabled: bool = True,
        on_change: OnChange | None = None,
    ) -> None:
        margin = safety_margin(lease_seconds)
        if heartbeat_seconds <= 0 or heartbeat_seconds >= lease_seconds - margin:
            raise ValueError(
                f"heartbeat ({heartbeat_seconds} s) must be positive and shorter than the"
                f" lease minus its safety margin ({lease_seconds} s - {margin} s)"
            )
        self._db = db
        self._leases: AsyncCollection[Document] = db[LEADER_ELECTION_COLLECTION]
        self._role = role
        self._pod_id = pod_id
        self._lease = lease_seconds
        self._heartbeat = heartbeat_seconds
        self._margin = margin
        # A request slower than this cannot produce a useful lease anyway.
        self._request_timeout = max(heartbeat_seconds, lease_seconds / 3)
        self._enabled = enabled
        self._on_change = on_change
        # The term we hold in the database as far as we know (kept past the local deadline
        # so that a late renewal can still succeed), and the monotonic end of our right to act.
        self._held_term: int | None = None
        self._deadline = 0.0
        self._reported = False
        # Bumped whenever we give a term up, so that a request in flight at that moment
        # (a renewal racing step_down() or a failed verify()) cannot bring it back.
        self._epoch = 0
        # One lease request at a time: a release must land after a renewal already in flight
        # (FerretDB's findAndModify is a read then a write, so the server does not order them).
        self._requests = asyncio.Lock()

    @property
    def role(self) -> str:
        """The role this elector competes for (the lease document's ``_id``)."""
        return self._role

    @property
    def pod_id(self) -> str:
        """This process's identity in the lease."""
        return self._pod_id

    @property
    def is_leader(self) -> bool:
        """Whether this process may act as leader right now.

        True only while we hold the lease and the monotonic clock is before our local
        deadline, so it turns False by itself when renewals stop succeeding.
        """
        if not self._enabled:
            return True
        return self._held_term is not None and time.monotonic() < self._deadline

    @property
    def term(self) -> int | None:
        """The fencing token of our current leadership, or ``None`` when not leader."""
        if not self._enabled:
            return DISABLED_TERM
        return self._held_term if self.is_leader else None

    async def run(self, stop: asyncio.Event) -> None:
        """Acquire or renew every heartbeat until ``stop`` is set, then step down.

        Database errors are logged and counted, never raised. Cancelling the task instead
        of setting ``stop`` abandons the lease without releasing it; it then expires.
        """
        if not self._enabled:
            self._report()
            await stop.wait()
            return
        while not stop.is_set():
            started = time.monotonic()
            await self.try_acquire()
            # Followers poll with jitter so that they rarely race for an expired lease; the
            # interval never exceeds one heartbeat, which bounds the takeover delay.
            interval = self._heartbeat
            if not self.is_leader:
                interval *= random.uniform(0.8, 1.0)  # noqa: S311 - jitter, not a secret
            await self._sleep_until(started + interval, stop)
        await self.step_down()

    async def try_acquire(self) -> bool:
        """One acquire-or-renew attempt; returns :attr:`is_leader` afterwards."""
        if not self._enabled:
            return True
        sent = time.monotonic()
        held = self._held_term
        epoch = self._epoch
        try:
            async with self._requests, asyncio.timeout(self._request_timeout):
                now = await server_time(self._db.client)
                if held is not None:
                    lease = await self._renew(held, now)
                    if lease is None:
                        self._drop(held, "lost")
                else:
                    lease = await self._take_over(now)
        except OperationFailure as exc:
            if exc.code != _DUPLICATE_KEY:
                self._failed("acquire", exc)
            # Duplicate key: the upsert found the role held by someone else; we follow.
        except (PyMongoError, TimeoutError) as exc:
            self._failed("acquire", exc)
        else:
            if lease is not None and epoch == self._epoch:
                self._won(lease, held, sent)
        self._report()
        return self.is_leader

    async def verify(self) -> int:
        """Re-read the lease; return our term if we still lead, else raise LostLeadership.

        Run it right before every leader-only destructive action (fencing). It raises unless
        the database shows us as holder with our term, not expired by the server's clock,
        and our local deadline has not passed; a failed read raises too.
        """
        if not self._enabled:
            return DISABLED_TERM
        term = self._held_term
        if term is None or not self.is_leader:
            raise LostLeadership(f"{self._pod_id} is not the leader of {self._role}")
        try:
            async with asyncio.timeout(self._request_timeout):
                now = await server_time(self._db.client)
                lease = await self._leases.find_one({"_id": self._role})
        except (PyMongoError, TimeoutError) as exc:
            self._failed("verify", exc, term)
            raise LostLeadership(f"cannot verify the {self._role} lease: {exc!r}") from exc
        if lease is None or lease.get("pod_id") != self._pod_id or lease.get("term") != term:
            self._drop(term, "lost")
            self._report()
            raise LostLeadership(
                f"{self._role} lease is held by {lease and lease.get('pod_id')}"
                f" with term {lease and lease.get('term')}, not by {self._pod_id} with {term}"
            )
        expires_at = _aware(lease.get("expires_at"))
        if lease.get("status") != LEADER or expires_at is None or expires_at <= now:
            raise LostLeadership(f"{self._role} lease of term {term} has ended")
        if not self.is_leader:
            raise LostLeadership(f"{self._role} lease of term {term} ran out while verifying")
        return term

    async def step_down(self) -> None:
        """Stop acting at once and release the lease so that a follower takes over now.

        :meth:`run` calls it when ``stop`` is set. Called while ``run`` goes on, it gives up
        the current term only: the next round may be elected again, with a new term.
        """
        if not self._enabled:
            return
        term = self._held_term
        if term is None:
            return
        self._drop(term, "stepped_down")
        self._report()
        try:
            async with self._requests, asyncio.timeout(self._request_timeout):
                now = await server_time(self._db.client)
                await self._leases.update_one(
                    {"_id": self._role, "pod_id": self._pod_id, "term": term},
                    {"$set": {"status": RELEASED, "expires_at": now, "updated_at": now}},
                )
        except (PyMongoError, TimeoutError) as exc:
            # The lease then simply expires.
            self._failed("release", exc, term)

    # --- database requests ----------------------------------------------------------------

    async def _renew(self, term: int, now: datetime) -> Document | None:
        # Only a lease that has not expired is renewed: after a lapse, even one nobody else
        # noticed, we take over with a new term, so one term is one continuous leadership.
        return await self._leases.find_one_and_update(
            {
                "_id": self._role,
                "pod_id": self._pod_id,
                "term": term,
                "status": LEADER,
                "expires_at": {"$gt": now},
            },
            {
                "$set": {
                    "last_heartbeat": now,
                    "expires_at": now + timedelta(seconds=self._lease),
                    "updated_at": now,
                }
            },
            return_document=ReturnDocument.AFTER,
        )

    async def _take_over(self, now: datetime) -> Document | None:
        # Upsert: the first election creates term 1; a live lease held by another pod makes
        # the upsert collide on _id (duplicate key), which means "follow".
        return await self._leases.find_one_and_update(
            {
                "_id": self._role,
                "$or": [
                    {"expires_at": {"$lt": now}},
                    {"expires_at": {"$exists": False}},
                    {"status": RELEASED},
                ],
            },
            {
                "$inc": {"term": 1},
                "$set": {
                    "status": LEADER,
                    "pod_id": self._pod_id,
                    "elected_at": now,
                    "last_heartbeat": now,
                    "expires_at": now + timedelta(seconds=self._lease),
                    "updated_at": now,
                },
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )

    # --- state ----------------------------------------------------------------------------

    def _won(self, lease: Mapping[str, Any], held: int | None, sent: float) -> None:
        term = lease.get("term")
        if lease.get("pod_id") != self._pod_id or not isinstance(term, int):
            self._failed("acquire", ValueError(f"unexpected lease document {lease!r}"))
            return
        self._held_term = term
        self._deadline = sent + self._lease - self._margin
        fields = {"role": self._role, "pod_id": self._pod_id, "term": term}
        if held != term:
            _log.info("leader elected", lease_seconds=self._lease, **fields)
            LEADER_TRANSITIONS.labels(role=self._role, event="elected").inc()
        else:
            _log.debug("leader lease renewed", **fields)

    def _drop(self, term: int, event: str) -> None:
        """Forget the lease of ``term`` (if still ours locally); ``event`` says why."""
        if self._held_term != term:
            return
        self._held_term = None
        self._deadline = 0.0
        self._epoch += 1
        message = "leader stepped down" if event == "stepped_down" else "leadership lost"
        _log.info(message, role=self._role, pod_id=self._pod_id, term=term)
        LEADER_TRANSITIONS.labels(role=self._role, event=event).inc()

    def _failed(self, operation: str, exc: BaseException, term: int | None = None) -> None:
        _log.warning(
            "leader lease request failed",
            role=self._role,
            pod_id=self._pod_id,
            term=self._held_term if term is None else term,
            operation=operation,
            error=repr(exc),
        )
        ERRORS.labels(component="leader_election", kind=f"{operation}_{type(exc).__name__}").inc()

    def _report(self) -> None:
        """Publish a change of :attr:`is_leader` (log, gauge, callback) once."""
        leading = self.is_leader
        if leading == self._reported:
            return
        self._reported = leading
        LEADER_STATUS.labels(role=self._role).set(1 if leading else 0)
        if not leading and self._held_term is not None:
            # Still ours in the database as far as we know, but not renewed in time.
            _log.warning(
                "leader lease lapsed: not renewed before the local deadline",
                role=self._role,
                pod_id=self._pod_id,
                term=self._held_term,
            )
            LEADER_TRANSITIONS.labels(role=self._role, event="lapsed").inc()
        if self._on_change is not None:
            try:
                self._on_change(leading, self.term)
            except Exception:
                _log.exception("leadership callback failed", role=self._role)

    async def _sleep_until(self, wake_at: float, stop: asyncio.Event) -> None:
        """Sleep until ``wake_at`` (monotonic) or ``stop``; wake at our deadline to report it."""
        while not stop.is_set():
            now = time.monotonic()
            if now >= wake_at:
                return
            until = wake_at
            if self._reported and self._deadline > now:
                until = min(until, self._deadline)
            try:
                async with asyncio.timeout(until - now):
                    await stop.wait()
            except TimeoutError:
                pass
            self._report()


__all__ = [
    "LEADER",
    "RELEASED",
    "LeaderElector",
    "LostLeadership",
    "OnChange",
    "safety_margin",
]

"""What a test's MongoDB client asked the server to read, and whether each read is bounded.

Tests call product code with a database from :func:`recording_database`, then assert on the
commands it sent (pymongo command monitoring), not on timings: a read that became unbounded
fails the test on FerretDB as it would cost a collection scan on MongoDB.

A read is **bounded** when MongoDB, with the project's indexes (``_id`` the natural key,
``timestamp_1`` on every series: :mod:`petrosa_common.mongo`), answers it without walking a
whole series collection. :meth:`Read.unbounded` accepts, in this order:

* an ``_id`` lookup: ``_id`` equal to a value, or ``$in`` a list;
* a metadata count, O(1) on MongoDB: a ``count`` without ``query``
  (``estimated_document_count``) or an ``aggregate`` led by ``$collStats``
  (:func:`petrosa_common.mongo.estimated_count`);
* a ``limit`` of at most ``max_limit`` on a read whose first sort key is ``timestamp`` or
  ``_id`` (the index serves the sort, so the server stops after ``skip + limit`` entries);
* a ``timestamp`` range closed on both sides and at most ``max_span`` wide.

Anything else (no filter, a filter on an unindexed field, an open range without a limit, a
sort no index serves) is unbounded, and the reason says which.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.monitoring import (
    CommandFailedEvent,
    CommandListener,
    CommandStartedEvent,
    CommandSucceededEvent,
)

Document = dict[str, Any]
READ_COMMANDS: Final = frozenset({"find", "aggregate", "count", "distinct"})
INDEXED_SORT_KEYS: Final = frozenset({"timestamp", "_id"})


@dataclass(frozen=True, slots=True)
class Read:
    """One read command as sent (``aggregate`` described by its leading stages)."""

    command: str
    collection: str
    filter: Mapping[str, Any]
    sort: tuple[str, ...] = ()
    limit: int | None = None
    skip: int = 0
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def metadata_count(self) -> bool:
        """A count from collection metadata: ``count`` without a query, or an aggregation
        whose first stage is ``$collStats``."""
        if self.command == "count":
            return not self.raw.get("query")
        pipeline = self.raw.get("pipeline") if self.command == "aggregate" else None
        return isinstance(pipeline, list) and bool(pipeline) and "$collStats" in pipeline[0]

    @property
    def id_lookup(self) -> bool:
        """``_id`` equal to a value, or ``$in`` a list."""
        if "_id" not in self.filter:
            return False
        wanted = self.filter["_id"]
        if isinstance(wanted, Mapping):
            return set(wanted) == {"$in"}
        return True

    def time_range(self) -> tuple[datetime | None, datetime | None]:
        """The ``timestamp`` bounds of the filter (``None`` where open)."""
        bounds = self.filter.get("timestamp")
        if not isinstance(bounds, Mapping):
            return (bounds, bounds) if isinstance(bounds, datetime) else (None, None)
        low = bounds.get("$gte", bounds.get("$gt"))
        high = bounds.get("$lt", bounds.get("$lte"))
        return (
            low if isinstance(low, datetime) else None,
            high if isinstance(high, datetime) else None,
        )

    def time_span(self) -> timedelta | None:
        """Width of a ``timestamp`` range closed on both sides; ``None`` when open."""
        low, high = self.time_range()
        return None if low is None or high is None else high - low

    def unbounded(
        self, *, max_span: timedelta = timedelta(days=1), max_limit: int = 1_000
    ) -> str | None:
        """Why this read is unbounded (see the module rules), or ``None`` when it is bounded."""
        if self.id_lookup or self.metadata_count:
            return None
        span = self.time_span()
        if span is not None and span <= max_span:
            return None
        indexed_sort = bool(self.sort) and self.sort[0] in INDEXED_SORT_KEYS
        if indexed_sort and self.limit is not None and self.limit <= max_limit:
            return None
        reasons = ["no _id lookup"]
        reasons.append(
            "no closed timestamp range" if span is None else f"a {span} range (over {max_span})"
        )
        if not indexed_sort:
            reasons.append(f"no sort on {' or '.join(sorted(INDEXED_SORT_KEYS))} first")
        if self.limit is None or self.limit > max_limit:
            reasons.append(f"limit {self.limit} (bound: {max_limit})")
        return f"{', '.join(reasons)}: {self.command} {self.raw}"


def _read_of(command: Mapping[str, Any], name: str) -> Read:
    raw = {key: value for key, value in command.items() if key != "lsid" and key[0] != "$"}
    collection = str(raw.get(name))
    if name == "find":
        return Read(
            name,
            collection,
            raw.get("filter") or {},
            tuple(raw.get("sort") or ()),
            raw.get("limit") or None,
            int(raw.get("skip") or 0),
            raw,
        )
    if name == "aggregate":
        match: Mapping[str, Any] = {}
        sort: tuple[str, ...] = ()
        limit = None
        skip = 0
        for stage in raw.get("pipeline") or []:
            if "$match" in stage and not match:
                match = stage["$match"]
            elif "$sort" in stage and not sort:
                sort = tuple(stage["$sort"])
            elif "$skip" in stage:
                skip = int(stage["$skip"])
            elif "$limit" in stage and limit is None:
                limit = int(stage["$limit"])
            elif "$group" in stage or "$unwind" in stage:
                break  # what follows works on the grouped rows, not the collection
        return Read(name, collection, match, sort, limit, skip, raw)
    limit = raw.get("limit") or None
    return Read(name, collection, raw.get("query") or {}, (), limit, int(raw.get("skip") or 0), raw)


class ReadLog(CommandListener):
    """Every read command started by the client it is registered on."""

    def __init__(self) -> None:
        self.all: list[Read] = []

    def started(self, event: CommandStartedEvent) -> None:
        if event.command_name in READ_COMMANDS:
            self.all.append(_read_of(event.command, event.command_name))

    def succeeded(self, event: CommandSucceededEvent) -> None:
        pass

    def failed(self, event: CommandFailedEvent) -> None:
        pass

    def clear(self) -> None:
        """Forget what was recorded so far."""
        self.all.clear()

    def of(self, *prefixes: str) -> list[Read]:
        """The reads of collections whose names start with one of ``prefixes``."""
        return [read for read in self.all if read.collection.startswith(prefixes)]

    def unbounded(
        self, *prefixes: str, max_span: timedelta = timedelta(days=1), max_limit: int = 1_000
    ) -> list[tuple[Read, str]]:
        """The unbounded reads of those collections, each with the reason."""
        found = []
        for read in self.of(*prefixes):
            reason = read.unbounded(max_span=max_span, max_limit=max_limit)
            if reason is not None:
                found.append((read, reason))
        return found


def one_metadata_count(reads: Sequence[Read]) -> bool:
    """Whether ``reads`` are one count as :func:`petrosa_common.mongo.estimated_count` sends
    it: the ``$collStats`` stage, then at most a ``count`` without a query (its fallback while
    the server has no statistics yet: FerretDB before a table's first ``ANALYZE``)."""
    return (
        1 <= len(reads) <= 2
        and reads[0].command == "aggregate"
        and all(read.metadata_count for read in reads)
    )


@contextlib.asynccontextmanager
async def recording_database(
    url: str, name: str
) -> AsyncIterator[tuple[AsyncDatabase[Document], ReadLog]]:
    """Database ``name`` through a new client (tz-aware UTC, like the services') whose read
    commands are recorded in the :class:`ReadLog` yielded with it."""
    log = ReadLog()
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        url, tz_aware=True, tzinfo=UTC, event_listeners=[log], appname="read-recorder"
    )
    try:
        yield client[name], log
    finally:
        await client.close()


__all__ = [
    "INDEXED_SORT_KEYS",
    "READ_COMMANDS",
    "Read",
    "ReadLog",
    "one_metadata_count",
    "recording_database",
]

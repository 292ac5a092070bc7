"""Raw MongoDB queries (``POST /api/v1/raw/mongodb``): read-only, capped, time-limited.

A query is either the seed's ``"<collection>: {json}"`` string::

    candles_BTCUSDT_1m: {"find": {"symbol": "BTCUSDT"}, "limit": 10}
    trades_BTCUSDT: [{"$match": {...}}, {"$group": ...}]          (a bare pipeline)

or a JSON object (as a string, or already decoded)::

    {"collection": "trades_BTCUSDT",
     "aggregate": [{"$group": {"_id": "$symbol", "count": {"$sum": 1}}}]}

Operations and their keys:

* ``find``: ``{"find": filter}`` with optional ``projection``, ``sort``, ``limit``, ``skip``;
* ``aggregate``: ``{"aggregate": [stage, ...]}``;
* ``count``: ``{"count": filter}``;
* ``distinct``: ``{"distinct": "field"}`` with optional ``filter``.

MongoDB's command style is understood too (``{"find": "<collection>", "filter": ...}``,
``{"aggregate": "<collection>", "pipeline": [...]}``, ``{"count": "<collection>", "query":
...}``, ``{"distinct": "<collection>", "key": "field", "query": ...}``).

Refused with :class:`BadRequest` and the reason: any other operation (raw queries are
read-only), unknown keys, system collections, and anywhere in the query (filters,
projections, pipelines, nested expressions such as ``$expr`` holding ``$function``) the
operators of :data:`DENIED_OPERATORS`: server-side JavaScript (``$where``, ``$function``,
``$accumulator``), writes (``$out``, ``$merge``), reads of other collections (``$lookup``,
``$graphLookup``, ``$unionWith``) and server internals (``$currentOp``, ``$collStats``,
...). Pipeline stages must be in :data:`ALLOWED_STAGES`.

Values: ``{"$date": ...}`` and ``{"$oid": ...}`` (MongoDB Extended JSON) become datetimes
and ObjectIds; in filters (and ``$match`` stages) ISO-8601 date strings compare as dates, as
in the CRUD filter language, except under ``$expr``, ``$regex`` and similar string operands.

Results are capped at ``max_rows`` (``truncated`` says so) and each query runs under
``max_time_ms`` on the server (``maxTimeMS``), with a client-side deadline slightly longer.
``distinct`` runs as an aggregation (``$match``, ``$unwind``, ``$group``), so it obeys the
same cap and time limit (and lists no ``null``); ``count`` returns one row ``{"count": n}``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast

from bson import ObjectId
from bson.errors import InvalidId
from petrosa_common.mongo import Document
from pydantic import BaseModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ExecutionTimeout, OperationFailure

from petrosa_gateway.errors import BadRequest
from petrosa_gateway.inputs import (
    check_datetime,
    check_int64,
    check_number,
    check_path,
    check_text,
    check_unicode,
    parse_iso_datetime,
)
from petrosa_gateway.store.language import parse_sort
from petrosa_gateway.store.mongo_catalog import (
    collection_name,
    ensure_collection_exists,
    mongo_error_message,
)
from petrosa_gateway.store.to_mongo import mongo_sort

RawOperation = Literal["find", "aggregate", "count", "distinct"]
OPERATIONS: tuple[RawOperation, ...] = ("find", "aggregate", "count", "distinct")

DEFAULT_MAX_ROWS = 10_000
DEFAULT_MAX_TIME_MS = 5_000
CLIENT_GRACE_SECONDS = 2.0
"""How much longer than ``max_time_ms`` the client waits before giving up itself."""
MAX_QUERY_CHARS = 1_000_000
MAX_PIPELINE_STAGES = 50
MAX_NESTING = 100

_JAVASCRIPT = "it runs server-side JavaScript"
_WRITES = "it writes to a collection (raw queries are read-only)"
_OTHER_COLLECTIONS = "it reads other collections (a raw query reads one collection)"
_INTERNALS = "it exposes server internals"
DENIED_OPERATORS: Mapping[str, str] = {
    "$where": _JAVASCRIPT,
    "$function": _JAVASCRIPT,
    "$accumulator": _JAVASCRIPT,
    "$out": _WRITES,
    "$merge": _WRITES,
    "$lookup": _OTHER_COLLECTIONS,
    "$graphLookup": _OTHER_COLLECTIONS,
    "$unionWith": _OTHER_COLLECTIONS,
    "$documents": "it reads no collection",
    "$currentOp": _INTERNALS,
    "$listSessions": _INTERNALS,
    "$listLocalSessions": _INTERNALS,
    "$planCacheStats": _INTERNALS,
    "$collStats": _INTERNALS,
    "$indexStats": _INTERNALS,
    "$listCatalog": _INTERNALS,
    "$listClusterCatalog": _INTERNALS,
    "$listSearchIndexes": _INTERNALS,
    "$queryStats": _INTERNALS,
    "$querySettings": _INTERNALS,
    "$shardedDataDistribution": _INTERNALS,
    "$changeStream": _INTERNALS,
    "$changeStreamSplitLargeEvent": _INTERNALS,
}
"""Operators refused anywhere in a raw query, with the reason given to the caller."""

ALLOWED_STAGES = frozenset(
    {
        "$match",
        "$project",
        "$addFields",
        "$set",
        "$unset",
        "$group",
        "$sort",
        "$skip",
        "$limit",
        "$unwind",
        "$count",
        "$sortByCount",
        "$bucket",
        "$bucketAuto",
        "$facet",
        "$replaceRoot",
        "$replaceWith",
        "$sample",
        "$redact",
        "$densify",
        "$fill",
        "$setWindowFields",
    }
)
"""Read-only, single-collection pipeline stages (FerretDB 1.x runs only some of them; a stage
the server does not know comes back as its own error)."""

_READ_KEYS = frozenset(
    {"collection", "filter", "query", "projection", "sort", "limit", "skip", "pipeline", "key"}
)
_ALLOWED_KEYS = _READ_KEYS | set(OPERATIONS)
_WRITE_OPERATIONS = frozenset(
    name.lower()
    for name in (
        *("insert", "insertOne", "insertMany", "update", "updateOne", "updateMany"),
        *("replaceOne", "delete", "deleteOne", "deleteMany", "remove", "findAndModify"),
        *("findOneAndUpdate", "findOneAndReplace", "findOneAndDelete", "bulkWrite"),
        *("mapReduce", "drop", "dropDatabase", "dropIndexes", "createIndexes", "createIndex"),
        *("create", "renameCollection", "eval", "collMod", "save", "upsert"),
    )
)
_OPTION_OWNERS: Mapping[str, RawOperation] = {
    "projection": "find",
    "sort": "find",
    "limit": "find",
    "skip": "find",
    "pipeline": "aggregate",
    "key": "distinct",
}
# Operands that are strings by nature: never turned into dates.
_NO_DATE_KEYS = frozenset(
    {"$expr", "$regex", "$options", "$type", "$text", "$search", "$language", "$jsonSchema"}
)


@dataclass(frozen=True, slots=True)
class RawMongoQuery:
    """A parsed, validated raw query (see the module docstring)."""

    collection: str
    operation: RawOperation
    filter: dict[str, Any] = field(default_factory=dict)
    projection: dict[str, Any] | None = None
    sort: list[tuple[str, int]] = field(default_factory=list)
    limit: int | None = None
    skip: int = 0
    pipeline: list[dict[str, Any]] = field(default_factory=list)
    key: str | None = None


class RawMongoResult(BaseModel):
    """Rows of a raw query (as MongoDB gave them: the reply encodes them), how many, and
    whether the row cap cut them."""

    data: list[dict[str, Any]]
    row_count: int
    truncated: bool
    execution_time_ms: float
    operation: RawOperation
    collection: str


# --- parsing -----------------------------------------------------------------------------


def parse_raw_mongo(query: str | Mapping[str, Any]) -> RawMongoQuery:
    """Parse and validate a raw query; :class:`BadRequest` with the reason when refused."""
    if isinstance(query, str):
        body, collection = _parse_text(query)
    elif isinstance(query, Mapping):
        inner = query.get("query")
        envelope = not any(op in query for op in OPERATIONS) and "collection" not in query
        if isinstance(inner, str | Mapping) and envelope:
            # The request envelope {"query": ...}: parse what it carries.
            return parse_raw_mongo(inner)
        body, collection = dict(query), None
    else:
        raise BadRequest("query must be a string or a JSON object")
    return _from_body(body, collection)


def _parse_text(text: str) -> tuple[dict[str, Any], str | None]:
    if len(text) > MAX_QUERY_CHARS:
        raise BadRequest(f"query is longer than {MAX_QUERY_CHARS} characters")
    text = text.strip()
    if not text:
        raise BadRequest("query is empty")
    if text.startswith("{"):
        payload = _json(text)
        if not isinstance(payload, dict):
            raise BadRequest("query must be a JSON object")
        return payload, None
    name, colon, rest = text.partition(":")
    if not colon or not name.strip() or any(c in name for c in "{}[]\"'"):
        raise BadRequest(
            "query must be '<collection>: {...}' or a JSON object with a 'collection' key"
        )
    payload = _json(rest.strip())
    if isinstance(payload, list):
        return {"aggregate": payload}, name.strip()
    if not isinstance(payload, dict):
        raise BadRequest("after '<collection>:' a query needs a JSON object or a pipeline list")
    return payload, name.strip()


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"query is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise BadRequest("query nests too deeply") from exc


def _from_body(body: dict[str, Any], prefix_collection: str | None) -> RawMongoQuery:
    _refuse_denied(body, path="query", depth=0)
    for key in body:
        if key in _ALLOWED_KEYS:
            continue
        if str(key).lstrip("$").lower() in _WRITE_OPERATIONS:
            raise BadRequest(
                f"operation {key!r} is not allowed: raw MongoDB queries are read-only "
                f"(allowed: {', '.join(OPERATIONS)})"
            )
        raise BadRequest(
            f"unknown key {key!r} in a raw MongoDB query "
            f"(allowed: {', '.join(sorted(_ALLOWED_KEYS))})"
        )
    operations = [op for op in OPERATIONS if op in body]
    if len(operations) != 1:
        raise BadRequest(f"a raw MongoDB query needs exactly one of: {', '.join(OPERATIONS)}")
    operation = operations[0]
    for option, owner in _OPTION_OWNERS.items():
        if option in body and owner != operation:
            raise BadRequest(f"{option!r} applies to {owner} only, not to {operation}")

    value = body[operation]
    command_style = isinstance(value, str) and (operation != "distinct" or "key" in body)
    collection = _collection(
        prefix_collection, body.get("collection"), value if command_style else None
    )
    if operation == "aggregate":
        if "filter" in body or "query" in body:
            raise BadRequest("an aggregation takes its filter as a $match stage")
        pipeline = body.get("pipeline") if command_style else value
        if not command_style and "pipeline" in body:
            raise BadRequest("give the pipeline once ('aggregate' or 'pipeline')")
        return RawMongoQuery(
            collection=collection, operation="aggregate", pipeline=_pipeline(pipeline)
        )
    if operation == "distinct":
        distinct_key = body.get("key") if command_style else value
        if not isinstance(distinct_key, str):
            raise BadRequest("distinct needs a field name")
        return RawMongoQuery(
            collection=collection,
            operation="distinct",
            key=check_path(distinct_key, what="distinct field"),
            filter=_filter(_filter_source(body, None, operation)),
        )
    inline = None if command_style else value
    if inline is not None and not isinstance(inline, Mapping):
        if not (operation == "count" and inline is True):
            raise BadRequest(f"{operation} takes a filter object")
        inline = None
    mongo_filter = _filter(_filter_source(body, inline, operation))
    if operation == "count":
        return RawMongoQuery(collection=collection, operation="count", filter=mongo_filter)
    projection = body.get("projection")
    if projection is not None and not isinstance(projection, Mapping):
        raise BadRequest("projection must be a JSON object")
    return RawMongoQuery(
        collection=collection,
        operation="find",
        filter=mongo_filter,
        projection=_convert(dict(projection), dates=False) if projection else None,
        sort=mongo_sort(parse_sort(body.get("sort"))),
        limit=_count_option(body, "limit"),
        skip=_count_option(body, "skip") or 0,
    )


def _collection(*candidates: object) -> str:
    names = {name for name in candidates if name is not None}
    if not names:
        raise BadRequest("a raw MongoDB query needs a collection")
    if len(names) > 1:
        raise BadRequest(f"the query names different collections: {sorted(map(str, names))}")
    return collection_name(names.pop())


def _filter_source(
    body: Mapping[str, Any], inline: Mapping[str, Any] | None, operation: str
) -> object:
    given = [key for key in ("filter", "query") if key in body]
    if len(given) + (inline is not None) > 1:
        raise BadRequest(f"give the {operation} filter once")
    if inline is not None:
        return inline
    return body[given[0]] if given else {}


def _filter(value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise BadRequest("a filter must be a JSON object")
    return cast(dict[str, Any], _convert(dict(value), dates=True))


def _count_option(body: Mapping[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadRequest(f"{key} must be a non-negative integer")
    return check_int64(value, what=key)


def _pipeline(value: object, *, where: str = "pipeline") -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise BadRequest(f"{where} must be a list of stages")
    if len(value) > MAX_PIPELINE_STAGES:
        raise BadRequest(f"{where} has more than {MAX_PIPELINE_STAGES} stages")
    stages: list[dict[str, Any]] = []
    for index, stage in enumerate(value):
        if not isinstance(stage, Mapping) or len(stage) != 1:
            raise BadRequest(f"{where}[{index}] must be an object with exactly one stage")
        ((name, spec),) = stage.items()
        if name not in ALLOWED_STAGES:
            raise BadRequest(
                f"{where}[{index}]: stage {name!r} is not allowed in raw MongoDB queries "
                f"(allowed: {', '.join(sorted(ALLOWED_STAGES))})"
            )
        if name == "$facet":
            if not isinstance(spec, Mapping):
                raise BadRequest(f"{where}[{index}]: $facet takes an object of pipelines")
            spec = {
                facet: _pipeline(sub, where=f"{where}[{index}].$facet.{facet}")
                for facet, sub in spec.items()
            }
        elif name == "$match":
            if not isinstance(spec, Mapping):
                raise BadRequest(f"{where}[{index}]: $match takes a filter object")
            spec = _convert(dict(spec), dates=True)
        else:
            spec = _convert(spec, dates=False)
        stages.append({name: spec})
    return stages


def _refuse_denied(value: object, *, path: str, depth: int) -> None:
    """Walk every nested object and list; refuse any key in :data:`DENIED_OPERATORS`, keys
    with control characters, strings neither store can encode and non-finite numbers."""
    if depth > MAX_NESTING:
        raise BadRequest(f"query nests deeper than {MAX_NESTING} levels")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise BadRequest(f"non-string key at {path}")
            check_text(key, what=f"key {key!r} at {path}")
            reason = DENIED_OPERATORS.get(key)
            if reason is not None:
                raise BadRequest(f"{key} is not allowed in raw MongoDB queries: {reason} ({path})")
            _refuse_denied(item, path=f"{path}.{key}", depth=depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _refuse_denied(item, path=f"{path}[{index}]", depth=depth + 1)
    elif isinstance(value, str):
        check_unicode(value, what=f"the string at {path}")
    elif isinstance(value, float):  # JSON has no NaN; FerretDB drops the connection on one
        check_number(value, what=path)


def _convert(value: Any, *, dates: bool) -> Any:
    """Extended JSON ``$date``/``$oid`` to BSON values; ISO strings to dates when ``dates``."""
    if isinstance(value, Mapping):
        if len(value) == 1:
            special = _extended_json(value)
            if special is not None:
                return special
        return {
            key: _convert(item, dates=dates and key not in _NO_DATE_KEYS and key != "_id")
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_convert(item, dates=dates) for item in value]
    if dates and isinstance(value, str):
        parsed = parse_iso_datetime(value)
        return parsed if parsed is not None else value
    if isinstance(value, int) and not isinstance(value, bool):
        return check_int64(value, what="raw query")  # BSON has no larger integers
    return value


def _extended_json(value: Mapping[str, Any]) -> datetime | ObjectId | None:
    ((key, item),) = value.items()
    if key == "$oid":
        try:
            return ObjectId(item)
        except (InvalidId, TypeError) as exc:
            raise BadRequest(f"$oid needs a 24-digit hex string, got {item!r}") from exc
    if key != "$date":
        return None
    if isinstance(item, Mapping) and set(item) == {"$numberLong"}:
        item = item["$numberLong"]
        item = int(item) if isinstance(item, str) and item.lstrip("-").isdigit() else item
    if isinstance(item, int) and not isinstance(item, bool):
        try:
            moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=item)
        except OverflowError as exc:
            raise BadRequest(f"$date {item} is out of range") from exc
        return check_datetime(moment, what="$date")
    if isinstance(item, str):
        parsed = parse_iso_datetime(item)
        if parsed is not None:
            return parsed
    raise BadRequest(f"$date needs an ISO-8601 string or epoch milliseconds, got {item!r}")


# --- execution ---------------------------------------------------------------------------


async def run_raw_mongo(
    db: AsyncDatabase[Document],
    query: str | Mapping[str, Any],
    *,
    max_rows: int = DEFAULT_MAX_ROWS,
    max_time_ms: int = DEFAULT_MAX_TIME_MS,
) -> RawMongoResult:
    """Run a raw read-only query (see the module docstring) on ``db``.

    :class:`BadRequest` when the query is refused, fails on the server or exceeds
    ``max_time_ms``; :class:`~petrosa_gateway.errors.NotFound` for an unknown collection.
    """
    if max_rows < 1 or max_time_ms < 1:
        raise ValueError("max_rows and max_time_ms must be positive")
    parsed = parse_raw_mongo(query)
    await ensure_collection_exists(db, parsed.collection)
    coll = db[parsed.collection]
    started = time.perf_counter()
    try:
        async with asyncio.timeout(max_time_ms / 1000 + CLIENT_GRACE_SECONDS):
            rows = await _execute(coll, parsed, max_rows=max_rows, max_time_ms=max_time_ms)
    except (ExecutionTimeout, TimeoutError) as exc:
        raise BadRequest(f"the query ran longer than its time limit of {max_time_ms} ms") from exc
    except OperationFailure as exc:
        raise BadRequest(f"MongoDB refused the query: {mongo_error_message(exc)}") from exc
    elapsed_ms = (time.perf_counter() - started) * 1000
    truncated = len(rows) > max_rows
    data = rows[:max_rows]
    return RawMongoResult(
        data=data,
        row_count=len(data),
        truncated=truncated,
        execution_time_ms=round(elapsed_ms, 3),
        operation=parsed.operation,
        collection=parsed.collection,
    )


async def _execute(
    coll: AsyncCollection[Document], query: RawMongoQuery, *, max_rows: int, max_time_ms: int
) -> list[dict[str, Any]]:
    """Rows of ``query``: at most ``max_rows + 1`` (one more says the cap cut the result)."""
    over_cap = max_rows + 1
    if query.operation == "find":
        # limit 0 means "no limit" in MongoDB; a limit within the cap is the caller's own.
        limit = query.limit if query.limit and query.limit <= max_rows else over_cap
        cursor = coll.find(
            query.filter,
            query.projection,
            sort=query.sort or None,
            skip=query.skip,
            limit=limit,
            max_time_ms=max_time_ms,
        )
        return await cursor.to_list(limit)
    if query.operation == "count":
        count = await coll.count_documents(query.filter, maxTimeMS=max_time_ms)
        return [{"count": count}]
    if query.operation == "distinct":
        path = f"${query.key}"
        pipeline: list[dict[str, Any]] = [
            {"$match": query.filter},
            {"$unwind": path},
            {"$group": {"_id": path}},
            {"$sort": {"_id": 1}},
        ]
        values = await _aggregate(coll, pipeline, limit=over_cap, max_time_ms=max_time_ms)
        return [{str(query.key): row["_id"]} for row in values]
    return await _aggregate(coll, query.pipeline, limit=over_cap, max_time_ms=max_time_ms)


async def _aggregate(
    coll: AsyncCollection[Document],
    pipeline: list[dict[str, Any]],
    *,
    limit: int,
    max_time_ms: int,
) -> list[dict[str, Any]]:
    cursor = await coll.aggregate([*pipeline, {"$limit": limit}], maxTimeMS=max_time_ms)
    return await cursor.to_list(limit)


__all__ = [
    "ALLOWED_STAGES",
    "DEFAULT_MAX_ROWS",
    "DEFAULT_MAX_TIME_MS",
    "DENIED_OPERATORS",
    "RawMongoQuery",
    "RawMongoResult",
    "parse_raw_mongo",
    "run_raw_mongo",
]

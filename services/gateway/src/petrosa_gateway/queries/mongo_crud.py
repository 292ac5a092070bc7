"""Generic CRUD on MongoDB collections (``/api/v1/mongodb/{collection}``), free of HTTP.

Rules every function here keeps:

* Collection names are checked (:func:`validate_collection_name`): letters, digits, ``_``,
  ``-`` and ``.``, at most :data:`COLLECTION_NAME_MAX_LENGTH` characters, never ``system.*``.
* Reading or changing a collection that does not exist is :class:`NotFound`; inserting (or
  upserting) into a new one creates it, as MongoDB does.
* The coordination collections (``leader_election``, ``dead_letters``, ``schemas``) are
  read-only here: writes are :class:`Forbidden`.
* Filters are the CRUD filter language of :mod:`.mongo_filters`; an update or delete needs
  a non-empty filter, so one request can never rewrite or wipe a whole collection.
* Paging, sorting and projection happen in the database; results are JSON-safe
  (:func:`json_safe`).
* A record with ``symbol`` and ``timestamp`` and no ``_id`` gets the natural key
  ``_id = "{symbol}_{epoch_ms}"``: a re-sent batch reports duplicates and stores no copies.

Batches try a real multi-document transaction first (replica sets and mongos: atomic,
all-or-nothing). A server without transactions (a standalone ``mongod``, FerretDB) refuses
it before anything is written; the batch then runs operation by operation, in order, stops
at the first failure and says so (``atomic=False``, ``completed``, ``failed_at``, ``error``).
"""

from __future__ import annotations

import base64
import math
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import bson
from bson import Decimal128, ObjectId, Regex
from petrosa_common.documents import DUPLICATE_KEY_ERROR, time_key
from petrosa_common.mongo import Document
from petrosa_common.naming import COORDINATION_COLLECTIONS
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    BulkWriteError,
    ConfigurationError,
    InvalidOperation,
    OperationFailure,
    PyMongoError,
)
from pymongo.results import UpdateResult as MongoUpdateResult

from petrosa_gateway.errors import BadRequest, Forbidden, InvalidInput, NotFound
from petrosa_gateway.inputs import MAX_DATETIME, MIN_DATETIME, update_fields
from petrosa_gateway.queries.common import (
    BatchOperation,
    BatchOperationResult,
    BatchRequest,
    BatchResult,
    DeleteResult,
    InsertResult,
    ListQuery,
    ListResult,
    Pagination,
    UpdateResult,
)
from petrosa_gateway.queries.mongo_filters import (
    coerce_document,
    to_mongo_filter,
    to_mongo_sort,
    to_projection,
)

COLLECTION_NAME_MAX_LENGTH = 120
COLLECTION_CACHE_SECONDS = 5.0
"""How long a listing of collection names is trusted (a miss always asks the server again)."""

_COLLECTION_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
_EPOCH = MIN_DATETIME
_MAX_EPOCH_MS = (MAX_DATETIME - MIN_DATETIME) // timedelta(milliseconds=1)
_ID_CHUNK = 1_000
MAX_RECORD_BYTES = 16 * 1024 * 1024
"""MongoDB's BSON document size limit."""


# --- collection names -------------------------------------------------------------------


def validate_collection_name(name: object) -> str:
    """``name`` when it names an ordinary collection; :class:`BadRequest` with the reason."""
    if not isinstance(name, str) or not name:
        raise BadRequest("collection name must be a non-empty string")
    if "\x00" in name:
        raise BadRequest("collection name must not contain NUL")
    if "$" in name:
        raise BadRequest(f"collection name {name!r} must not contain '$'")
    if name.startswith("system."):
        raise BadRequest(f"{name!r} is a system collection; system collections are not accessible")
    if len(name) > COLLECTION_NAME_MAX_LENGTH:
        raise BadRequest(f"collection name is longer than {COLLECTION_NAME_MAX_LENGTH} characters")
    if not _COLLECTION_RE.fullmatch(name) or name.endswith(".") or ".." in name:
        raise BadRequest(
            f"collection name {name!r} may only contain letters, digits, '_', '-' and '.', "
            "must start with a letter, digit or '_' and must not have empty '.' parts"
        )
    return name


def ensure_writable(name: str) -> None:
    """:class:`Forbidden` for the coordination collections (read-only through CRUD)."""
    if name in COORDINATION_COLLECTIONS:
        raise Forbidden(
            f"collection {name!r} is a coordination collection and is read-only through this API"
        )


_collections_seen: dict[tuple[int, str], tuple[float, frozenset[str]]] = {}


def _cache_key(db: AsyncDatabase[Document]) -> tuple[int, str]:
    return (id(db.client), db.name)


async def collection_exists(db: AsyncDatabase[Document], name: str) -> bool:
    """Whether ``name`` exists in ``db`` (listing cached briefly; a miss asks again)."""
    key = _cache_key(db)
    cached = _collections_seen.get(key)
    if cached is not None and cached[0] > time.monotonic() and name in cached[1]:
        return True
    names = frozenset(await db.list_collection_names())
    _collections_seen[key] = (time.monotonic() + COLLECTION_CACHE_SECONDS, names)
    return name in names


async def ensure_collection_exists(db: AsyncDatabase[Document], name: str) -> None:
    """:class:`NotFound` when ``name`` does not exist in ``db``."""
    if not await collection_exists(db, name):
        raise NotFound(f"collection {name!r} does not exist")


def _remember_collection(db: AsyncDatabase[Document], name: str) -> None:
    key = _cache_key(db)
    cached = _collections_seen.get(key)
    if cached is not None:
        _collections_seen[key] = (cached[0], cached[1] | {name})


# --- JSON-safe output --------------------------------------------------------------------


def iso_utc(value: datetime) -> str:
    """``value`` as ISO-8601 UTC with a ``Z`` (milliseconds only when there are any)."""
    moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    spec = "milliseconds" if moment.microsecond else "seconds"
    return moment.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def json_safe(value: Any) -> Any:
    """``value`` with BSON types made JSON-friendly.

    Datetimes become ISO-8601 strings with ``Z``, ObjectIds and Decimal128 strings, bytes
    base64 strings, non-finite floats ``null``; anything else unknown becomes its ``str``.
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, ObjectId | Decimal128 | uuid.UUID):
        return str(value)
    if isinstance(value, Regex):
        return value.pattern
    if isinstance(value, re.Pattern):
        return value.pattern
    return str(value)


def mongo_error_message(exc: PyMongoError) -> str:
    """The server's own message for ``exc`` (first write error of a bulk), without noise."""
    if isinstance(exc, BulkWriteError):
        errors = (exc.details or {}).get("writeErrors") or []
        if errors:
            return str(errors[0].get("errmsg", exc))
    if isinstance(exc, OperationFailure):
        message = (exc.details or {}).get("errmsg")
        if message:
            return str(message)
    return str(exc)


# --- records -----------------------------------------------------------------------------


def _epoch_ms(value: object) -> int | None:
    if isinstance(value, datetime):
        return (value - _EPOCH) // timedelta(milliseconds=1)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return int(value)
    return None


def prepare_record(record: Mapping[str, Any], *, index: int = 0) -> dict[str, Any]:
    """A record ready to insert (see :func:`coerce_document`), with its natural ``_id``.

    A record with a string ``symbol`` and a ``timestamp`` (ISO-8601 string, datetime or
    epoch milliseconds) and no ``_id`` gets ``_id = "{symbol}_{epoch_ms}"``; its
    ``timestamp`` is stored as a UTC datetime (the storage invariant of every series).
    """
    doc = coerce_document(record, what=f"record {index}")
    if isinstance(doc.get("_id"), list):
        raise BadRequest(f"record {index}: '_id' cannot be an array")
    symbol = doc.get("symbol")
    epoch_ms = _epoch_ms(doc.get("timestamp"))
    if "_id" not in doc and isinstance(symbol, str) and symbol and epoch_ms is not None:
        if not 0 <= epoch_ms <= _MAX_EPOCH_MS:
            raise InvalidInput(
                f"record {index}: field 'timestamp': {epoch_ms} ms is outside the years "
                "1970-9999 (UTC) the stores accept"
            )
        doc["timestamp"] = _EPOCH + timedelta(milliseconds=epoch_ms)
        doc["_id"] = time_key(symbol, epoch_ms)
    if len(bson.encode(doc)) > MAX_RECORD_BYTES:
        raise BadRequest(f"record {index} is larger than MongoDB's 16 MiB document limit")
    return doc


def _records(data: object, *, what: str) -> list[Mapping[str, Any]]:
    records = [data] if isinstance(data, Mapping) else data
    if not isinstance(records, list) or not records:
        raise BadRequest(f"{what} needs a record or a non-empty list of records")
    for index, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise BadRequest(f"{what}: record {index} must be a JSON object")
    return records


class _InsertFailed(Exception):
    """Some records were refused for a reason other than a duplicate key."""

    def __init__(self, partial: InsertResult, message: str) -> None:
        super().__init__(message)
        self.partial = partial
        self.message = message


async def _insert_unordered(
    coll: AsyncCollection[Document], docs: list[dict[str, Any]]
) -> InsertResult:
    """Unordered insert; duplicate keys are counted, other refusals raise :class:`_InsertFailed`."""
    try:
        done = await coll.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        errors: list[dict[str, Any]] = list((exc.details or {}).get("writeErrors") or [])
        failed = {int(error["index"]) for error in errors}
        duplicates = [
            int(error["index"]) for error in errors if error.get("code") == DUPLICATE_KEY_ERROR
        ]
        others = [error for error in errors if error.get("code") != DUPLICATE_KEY_ERROR]
        partial = InsertResult(
            inserted_count=len(docs) - len(failed),
            inserted_ids=[json_safe(doc["_id"]) for i, doc in enumerate(docs) if i not in failed],
            duplicates=len(duplicates),
            duplicate_ids=[json_safe(docs[i]["_id"]) for i in duplicates],
        )
        if others:
            first = others[0]
            raise _InsertFailed(
                partial,
                f"{len(others)} record(s) refused by the database (first: record "
                f"{first['index']}: {first.get('errmsg')}); {partial.inserted_count} inserted, "
                f"{partial.duplicates} duplicate(s)",
            ) from exc
        return partial
    return InsertResult(
        inserted_count=len(done.inserted_ids),
        inserted_ids=[json_safe(inserted) for inserted in done.inserted_ids],
    )


async def _insert_in_transaction(
    coll: AsyncCollection[Document], docs: list[dict[str, Any]], session: AsyncClientSession
) -> InsertResult:
    """Insert inside a transaction, where a duplicate-key error would abort everything.

    Existing ``_id`` values are looked up first (in the transaction's snapshot) and skipped.
    """
    keyed = [doc for doc in docs if "_id" in doc]
    existing: set[bytes] = set()
    for start in range(0, len(keyed), _ID_CHUNK):
        ids = [doc["_id"] for doc in keyed[start : start + _ID_CHUNK]]
        cursor = coll.find({"_id": {"$in": ids}}, {"_id": 1}, session=session)
        async for found in cursor:
            existing.add(_id_key(found["_id"]))
    fresh: list[dict[str, Any]] = []
    duplicate_ids: list[Any] = []
    for doc in docs:
        if "_id" in doc:
            key = _id_key(doc["_id"])
            if key in existing:
                duplicate_ids.append(json_safe(doc["_id"]))
                continue
            existing.add(key)
        fresh.append(doc)
    if fresh:
        await coll.insert_many(fresh, ordered=True, session=session)
    return InsertResult(
        inserted_count=len(fresh),
        inserted_ids=[json_safe(doc["_id"]) for doc in fresh],
        duplicates=len(duplicate_ids),
        duplicate_ids=duplicate_ids,
    )


def _id_key(value: Any) -> bytes:
    return bson.encode({"_id": value})


# --- public CRUD -------------------------------------------------------------------------


async def list_records(
    *,
    db: AsyncDatabase[Document],
    collection: str,
    query: ListQuery,
    max_time_ms: int | None = None,
) -> ListResult:
    """One page of ``collection`` matching ``query`` (filter, sort, fields, limit, offset).

    ``pagination.total`` counts every match of the filter. Ties in the requested sort (and
    an unsorted read) are ordered by ``_id`` so pages neither overlap nor skip records.
    """
    name = validate_collection_name(collection)
    mongo_filter = to_mongo_filter(query.filter)
    sort = to_mongo_sort(query.sort)
    projection = to_projection(query.fields)
    if all(field_name != "_id" for field_name, _ in sort):
        sort.append(("_id", 1))
    await ensure_collection_exists(db, name)
    coll = db[name]
    limits: dict[str, Any] = {} if max_time_ms is None else {"maxTimeMS": max_time_ms}
    try:
        total = await coll.count_documents(mongo_filter, **limits)
        cursor = coll.find(
            mongo_filter,
            projection,
            sort=sort,
            skip=query.offset,
            limit=query.limit,
            max_time_ms=max_time_ms,
        )
        docs = await cursor.to_list(query.limit)
    except OperationFailure as exc:
        raise BadRequest(f"MongoDB refused the query: {mongo_error_message(exc)}") from exc
    return ListResult(
        data=[json_safe(doc) for doc in docs],
        pagination=Pagination.of(total=total, limit=query.limit, offset=query.offset),
    )


async def insert_records(
    *,
    db: AsyncDatabase[Document],
    collection: str,
    records: Mapping[str, Any] | Sequence[Mapping[str, Any]],
) -> InsertResult:
    """Insert one record or a list (unordered): duplicates of existing ``_id`` values are
    counted in ``duplicates``/``duplicate_ids`` and not stored again.

    Every record is validated before anything is written. A record the database refuses
    for another reason is :class:`BadRequest` saying how many records were inserted.
    """
    name = validate_collection_name(collection)
    ensure_writable(name)
    checked = _records(records if isinstance(records, Mapping) else list(records), what="insert")
    docs = [prepare_record(record, index=index) for index, record in enumerate(checked)]
    try:
        result = await _insert_unordered(db[name], docs)
    except _InsertFailed as exc:
        raise BadRequest(exc.message) from exc
    finally:
        _remember_collection(db, name)
    return result


def _update_parts(
    filter: Mapping[str, Any] | None,
    data: object,
    *,
    what: str = "an update",
) -> tuple[dict[str, Any], dict[str, Any]]:
    mongo_filter = _required_filter(filter, what=what)
    fields = coerce_document(update_fields(data), paths=True, what="update data")
    for path in fields:
        if path == "_id" or path.startswith("_id."):
            raise BadRequest(f"{what} cannot change '_id' (got field {path!r})")
    return mongo_filter, {"$set": fields}


def _required_filter(filter: object, *, what: str) -> dict[str, Any]:
    if filter is None or (isinstance(filter, Mapping) and not filter):
        raise BadRequest(f"{what} needs a non-empty filter (refusing to touch every record)")
    if not isinstance(filter, Mapping):
        raise BadRequest(f"{what}: filter must be a JSON object")
    mongo_filter = to_mongo_filter(filter)
    if not mongo_filter:
        raise BadRequest(f"{what} needs a non-empty filter (refusing to touch every record)")
    return mongo_filter


def _update_result(raw: MongoUpdateResult) -> UpdateResult:
    upserted = raw.upserted_id
    return UpdateResult(
        matched_count=raw.matched_count,
        modified_count=raw.modified_count,
        upserted_count=0 if upserted is None else 1,
        upserted_id=json_safe(upserted),
    )


async def update_records(
    *,
    db: AsyncDatabase[Document],
    collection: str,
    filter: Mapping[str, Any] | None,
    data: Mapping[str, Any],
    upsert: bool = False,
) -> UpdateResult:
    """``$set`` the fields of ``data`` on every record matching ``filter``.

    ``data`` keys may be dotted paths (``"meta.source"``); ``_id`` cannot change. An empty
    filter is refused. With ``upsert`` a missing record (and collection) is created.
    """
    name = validate_collection_name(collection)
    ensure_writable(name)
    mongo_filter, update = _update_parts(filter, data)
    if not upsert:
        await ensure_collection_exists(db, name)
    try:
        raw = await db[name].update_many(mongo_filter, update, upsert=upsert)
    except OperationFailure as exc:
        raise BadRequest(f"MongoDB refused the update: {mongo_error_message(exc)}") from exc
    if upsert:
        _remember_collection(db, name)
    return _update_result(raw)


async def delete_records(
    *,
    db: AsyncDatabase[Document],
    collection: str,
    filter: Mapping[str, Any] | None,
) -> DeleteResult:
    """Delete every record matching ``filter`` (an empty filter is refused)."""
    name = validate_collection_name(collection)
    ensure_writable(name)
    mongo_filter = _required_filter(filter, what="a delete")
    await ensure_collection_exists(db, name)
    try:
        raw = await db[name].delete_many(mongo_filter)
    except OperationFailure as exc:
        raise BadRequest(f"MongoDB refused the delete: {mongo_error_message(exc)}") from exc
    return DeleteResult(deleted_count=raw.deleted_count)


# --- batches -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Planned:
    """A validated batch operation, ready to run."""

    index: int
    type: Literal["insert", "update", "delete"]
    documents: tuple[dict[str, Any], ...] = ()
    filter: dict[str, Any] = field(default_factory=dict)
    update: dict[str, Any] = field(default_factory=dict)
    upsert: bool = False

    def fresh_documents(self) -> list[dict[str, Any]]:
        """Copies to hand to the driver (it adds ``_id`` to the dicts it inserts)."""
        return [dict(doc) for doc in self.documents]


def _plan(operation: BatchOperation, index: int) -> _Planned:
    what = f"operation {index} ({operation.type})"
    try:
        if operation.type == "insert":
            if operation.filter is not None:
                raise BadRequest(f"{what}: an insert takes no filter")
            if operation.upsert:
                raise BadRequest(f"{what}: upsert applies to updates only")
            records = _records(operation.data, what=what)
            docs = tuple(prepare_record(record, index=i) for i, record in enumerate(records))
            return _Planned(index=index, type="insert", documents=docs)
        if operation.type == "update":
            mongo_filter, update = _update_parts(operation.filter, operation.data, what=what)
            return _Planned(
                index=index,
                type="update",
                filter=mongo_filter,
                update=update,
                upsert=operation.upsert,
            )
        if operation.data is not None:
            raise BadRequest(f"{what}: a delete takes no data")
        if operation.upsert:
            raise BadRequest(f"{what}: upsert applies to updates only")
        return _Planned(
            index=index, type="delete", filter=_required_filter(operation.filter, what=what)
        )
    except BadRequest as exc:
        detail = exc.detail if exc.detail.startswith(what) else f"{what}: {exc.detail}"
        raise BadRequest(detail) from exc


async def _apply(
    coll: AsyncCollection[Document],
    op: _Planned,
    *,
    session: AsyncClientSession | None,
) -> BatchOperationResult:
    if op.type == "insert":
        if session is None:
            inserted = await _insert_unordered(coll, op.fresh_documents())
        else:
            inserted = await _insert_in_transaction(coll, op.fresh_documents(), session)
        return BatchOperationResult(
            index=op.index,
            type="insert",
            inserted_count=inserted.inserted_count,
            duplicates=inserted.duplicates,
        )
    if op.type == "update":
        updated = _update_result(
            await coll.update_many(op.filter, op.update, upsert=op.upsert, session=session)
        )
        return BatchOperationResult(
            index=op.index,
            type="update",
            matched_count=updated.matched_count,
            modified_count=updated.modified_count,
            upserted_count=updated.upserted_count,
        )
    deleted = await coll.delete_many(op.filter, session=session)
    return BatchOperationResult(index=op.index, type="delete", deleted_count=deleted.deleted_count)


class _TransactionsUnavailable(Exception):
    """The server refused to run a transaction (nothing was written)."""


# Error codes with which servers refuse a transaction as such (not an operation in it):
# IllegalOperation (standalone mongod: "Transaction numbers are only allowed on a replica set
# member or mongos"), FailedToParse / IDL unknown field (servers that do not know the
# transaction fields, e.g. FerretDB 1.x: 'insert: unknown field "startTransaction"'),
# CommandNotFound, CommandNotSupported, OperationNotSupportedInTransaction.
_ILLEGAL_OPERATION = 20
_NO_TRANSACTION_CODES = frozenset({9, 40415, 59, 115})
_OPERATION_NOT_SUPPORTED_IN_TRANSACTION = 263
_NO_TRANSACTION_HINTS = (
    "transaction",
    "txnnumber",
    "autocommit",
    "retryable writes",
)


def transactions_refused(exc: BaseException) -> bool:
    """Whether ``exc`` is a server (or driver) refusing transactions, not an operation error."""
    if isinstance(exc, ConfigurationError | InvalidOperation):
        return "transaction" in str(exc).lower()
    if not isinstance(exc, OperationFailure):
        return False
    code = exc.code
    message = mongo_error_message(exc).lower()
    if isinstance(exc, BulkWriteError):
        errors = (exc.details or {}).get("writeErrors") or []
        code = errors[0].get("code") if errors else code
    if code == _OPERATION_NOT_SUPPORTED_IN_TRANSACTION:
        return True
    if code == _ILLEGAL_OPERATION or code in _NO_TRANSACTION_CODES:
        return any(hint in message for hint in _NO_TRANSACTION_HINTS)
    return False


async def _run_atomic(
    db: AsyncDatabase[Document], coll: AsyncCollection[Document], plan: list[_Planned]
) -> BatchResult:
    failed_at: list[int] = []

    async def body(session: AsyncClientSession) -> list[BatchOperationResult]:
        failed_at.clear()  # with_transaction may retry the whole body on transient errors
        results: list[BatchOperationResult] = []
        for op in plan:
            try:
                results.append(await _apply(coll, op, session=session))
            except PyMongoError:
                failed_at.append(op.index)
                raise
        return results

    try:
        async with db.client.start_session() as session:
            results = await session.with_transaction(body)
    except PyMongoError as exc:
        if transactions_refused(exc):
            raise _TransactionsUnavailable(str(exc)) from exc
        where = failed_at[0] if failed_at else None
        stage = f"operation {where}" if where is not None else "the commit"
        return BatchResult(
            atomic=True,
            success=False,
            completed=0,
            failed_at=where,
            error=(
                f"{stage} failed: {mongo_error_message(exc)}; the transaction was rolled back, "
                "no operation took effect"
            ),
            results=[],
        )
    return BatchResult(atomic=True, success=True, completed=len(results), results=results)


async def _run_ordered(coll: AsyncCollection[Document], plan: list[_Planned]) -> BatchResult:
    results: list[BatchOperationResult] = []
    for op in plan:
        try:
            results.append(await _apply(coll, op, session=None))
        except (_InsertFailed, PyMongoError) as exc:
            reason = exc.message if isinstance(exc, _InsertFailed) else mongo_error_message(exc)
            applied = (
                f"operations 0..{op.index - 1} were applied and stay applied"
                if op.index
                else "no earlier operation was applied"
            )
            return BatchResult(
                atomic=False,
                success=False,
                completed=len(results),
                failed_at=op.index,
                error=(
                    f"operation {op.index} ({op.type}) failed: {reason}. This MongoDB server "
                    f"does not support transactions, so the batch ran in order without one: "
                    f"{applied}; later operations were not run"
                ),
                results=results,
            )
    return BatchResult(atomic=False, success=True, completed=len(results), results=results)


async def run_batch(
    *,
    db: AsyncDatabase[Document],
    collection: str,
    request: BatchRequest,
) -> BatchResult:
    """Apply the operations of ``request`` in order, atomically when the server can.

    Every operation is validated before any runs (:class:`BadRequest` naming the index), so
    a malformed batch changes nothing. Then a transaction is tried (``atomic=True``:
    all-or-nothing). Where the server refuses transactions the operations run in order
    without one and stop at the first failure (``atomic=False``; ``completed`` operations
    took effect, ``failed_at``/``error`` say where and why it stopped).
    """
    name = validate_collection_name(collection)
    ensure_writable(name)
    plan = [_plan(operation, index) for index, operation in enumerate(request.operations)]
    creates = any(op.type == "insert" or op.upsert for op in plan)
    if not creates:
        await ensure_collection_exists(db, name)
    coll = db[name]
    try:
        try:
            return await _run_atomic(db, coll, plan)
        except _TransactionsUnavailable:
            return await _run_ordered(coll, plan)
    finally:
        if creates:
            _remember_collection(db, name)


__all__ = [
    "COLLECTION_NAME_MAX_LENGTH",
    "collection_exists",
    "delete_records",
    "ensure_collection_exists",
    "ensure_writable",
    "insert_records",
    "iso_utc",
    "json_safe",
    "list_records",
    "mongo_error_message",
    "prepare_record",
    "run_batch",
    "transactions_refused",
    "update_records",
    "validate_collection_name",
]

"""Writes on MongoDB: records as documents, and batches with or without a transaction.

A written record stores ISO-8601 date strings as dates (``_id`` excepted); one with ``symbol``
+ ``timestamp`` and no ``_id`` gets the natural key ``_id = "{symbol}_{epoch_ms}"`` (the
ingestor's), so a re-sent batch reports duplicates instead of storing copies.

A batch tries a multi-document transaction first (replica sets, mongos: all-or-nothing). A
server without transactions (standalone ``mongod``, FerretDB) refuses it before anything is
written; the batch then runs in order, stops at the first failure and says so
(``atomic=False``, ``completed``, ``failed_at``, ``error``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

import bson
from petrosa_common.documents import DUPLICATE_KEY_ERROR, time_key
from petrosa_common.mongo import Document
from petrosa_common.time import from_epoch_ms, to_epoch_ms
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
from pymongo.results import UpdateResult as DriverUpdateResult

from petrosa_gateway.errors import BadRequest, InvalidInput
from petrosa_gateway.inputs import MAX_DATETIME
from petrosa_gateway.store.models import (
    BatchOperationResult,
    BatchResult,
    DeleteResult,
    InsertResult,
    UpdateResult,
)
from petrosa_gateway.store.mongo_catalog import mongo_error_message
from petrosa_gateway.store.to_mongo import mongo_filter
from petrosa_gateway.store.writes import Delete, Insert, Write, in_operation, with_dates

MAX_RECORD_BYTES: Final = 16 * 1024 * 1024
"""MongoDB's BSON document size limit."""
_MAX_EPOCH_MS: Final = to_epoch_ms(MAX_DATETIME)
_ID_CHUNK: Final = 1_000


def documents(write: Insert) -> tuple[dict[str, Any], ...]:
    return tuple(_document(record, index) for index, record in enumerate(write.records))


def _document(record: Mapping[str, Any], index: int) -> dict[str, Any]:
    """A record as stored: dates as dates, the natural key when it has none, within 16 MiB."""
    what = f"record {index}"
    doc = with_dates(record, what=what)
    symbol, epoch_ms = doc.get("symbol"), _epoch_ms(doc.get("timestamp"))
    if "_id" not in doc and isinstance(symbol, str) and symbol and epoch_ms is not None:
        if not 0 <= epoch_ms <= _MAX_EPOCH_MS:
            raise InvalidInput(
                f"{what}: field 'timestamp': {epoch_ms} ms is outside the years 1970-9999 "
                "(UTC) the stores accept"
            )
        doc["timestamp"] = from_epoch_ms(epoch_ms)
        doc["_id"] = time_key(symbol, epoch_ms)
    if len(bson.encode(doc)) > MAX_RECORD_BYTES:
        raise BadRequest(f"{what} is larger than MongoDB's 16 MiB document limit")
    return doc


def _epoch_ms(value: object) -> int | None:
    if isinstance(value, datetime):
        return to_epoch_ms(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)  # finite: the record rules refuse NaN and infinities
    return None


@dataclass(frozen=True, slots=True)
class Op:
    """A write as the driver takes it."""

    kind: Literal["insert", "update", "delete"]
    documents: tuple[dict[str, Any], ...] = ()
    filter: dict[str, Any] = field(default_factory=dict)
    update: dict[str, Any] = field(default_factory=dict)
    upsert: bool = False


def prepare(write: Write) -> Op:
    """``write`` compiled for the driver (records as documents, filters, ``$set``)."""
    if isinstance(write, Insert):
        return Op("insert", documents=documents(write))
    if isinstance(write, Delete):
        return Op("delete", filter=mongo_filter(write.filter))
    changes = with_dates(write.changes, what="update data")
    return Op("update", filter=mongo_filter(write.filter), update={"$set": changes},
              upsert=write.upsert)  # fmt: skip


def prepare_batch(writes: Sequence[Write]) -> list[Op]:
    """Every write compiled before any runs; a refusal names its operation."""
    plan = []
    for index, write in enumerate(writes):
        with in_operation(index, write.kind):
            plan.append(prepare(write))
    return plan


def update_result(raw: DriverUpdateResult) -> UpdateResult:
    return UpdateResult(
        matched_count=raw.matched_count,
        modified_count=raw.modified_count,
        upserted_count=0 if raw.upserted_id is None else 1,
        upserted_id=raw.upserted_id,
    )


class InsertFailed(Exception):
    """Some records were refused for a reason other than a duplicate key."""

    def __init__(self, partial: InsertResult, message: str) -> None:
        super().__init__(message)
        self.partial = partial
        self.message = message


async def insert_unordered(
    coll: AsyncCollection[Document], docs: list[dict[str, Any]]
) -> InsertResult:
    """Duplicate keys are counted; other refusals raise :class:`InsertFailed`."""
    try:
        done = await coll.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        errors: list[dict[str, Any]] = list((exc.details or {}).get("writeErrors") or [])
        failed = {int(error["index"]) for error in errors}
        duplicates = [int(e["index"]) for e in errors if e.get("code") == DUPLICATE_KEY_ERROR]
        others = [error for error in errors if error.get("code") != DUPLICATE_KEY_ERROR]
        partial = InsertResult(
            inserted_count=len(docs) - len(failed),
            inserted_ids=[doc["_id"] for i, doc in enumerate(docs) if i not in failed],
            duplicates=len(duplicates),
            duplicate_ids=[docs[i]["_id"] for i in duplicates],
        )
        if others:
            first = others[0]
            raise InsertFailed(
                partial,
                f"{len(others)} record(s) refused by the database (first: record "
                f"{first['index']}: {first.get('errmsg')}); {partial.inserted_count} inserted, "
                f"{partial.duplicates} duplicate(s)",
            ) from exc
        return partial
    return InsertResult(inserted_count=len(done.inserted_ids), inserted_ids=done.inserted_ids)


async def _insert_in_transaction(
    coll: AsyncCollection[Document], docs: list[dict[str, Any]], session: AsyncClientSession
) -> InsertResult:
    """In a transaction a duplicate-key error would abort everything: existing ``_id`` values
    are looked up first (in the transaction's snapshot) and skipped."""
    keyed = [doc["_id"] for doc in docs if "_id" in doc]
    existing: set[bytes] = set()
    for start in range(0, len(keyed), _ID_CHUNK):
        found = coll.find({"_id": {"$in": keyed[start : start + _ID_CHUNK]}}, {"_id": 1},
                          session=session)  # fmt: skip
        existing.update([_id_key(doc["_id"]) async for doc in found])
    fresh: list[dict[str, Any]] = []
    duplicate_ids: list[Any] = []
    for doc in docs:
        key = _id_key(doc["_id"]) if "_id" in doc else None
        if key in existing:
            duplicate_ids.append(doc["_id"])
            continue
        if key is not None:
            existing.add(key)
        fresh.append(doc)
    if fresh:
        await coll.insert_many(fresh, ordered=True, session=session)
    return InsertResult(
        inserted_count=len(fresh),
        inserted_ids=[doc["_id"] for doc in fresh],
        duplicates=len(duplicate_ids),
        duplicate_ids=duplicate_ids,
    )


def _id_key(value: Any) -> bytes:
    return bson.encode({"_id": value})


async def execute(
    coll: AsyncCollection[Document], op: Op, *, session: AsyncClientSession | None = None
) -> InsertResult | UpdateResult | DeleteResult:
    """Run one write (inside ``session``'s transaction when there is one)."""
    if op.kind == "insert":
        docs = [dict(doc) for doc in op.documents]  # copies: the driver adds _id to its dicts
        if session is None:
            return await insert_unordered(coll, docs)
        return await _insert_in_transaction(coll, docs, session)
    if op.kind == "update":
        raw = await coll.update_many(op.filter, op.update, upsert=op.upsert, session=session)
        return update_result(raw)
    deleted = await coll.delete_many(op.filter, session=session)
    return DeleteResult(deleted_count=deleted.deleted_count)


class TransactionsUnavailable(Exception):
    """The server refused to run a transaction (nothing was written)."""


# Error codes with which servers refuse a transaction as such (not an operation in it):
# IllegalOperation 20 (standalone mongod: "Transaction numbers are only allowed on a replica
# set member or mongos"), FailedToParse 9 / IDL unknown field 40415 (servers that do not
# know the transaction fields, e.g. FerretDB 1.x: 'insert: unknown field
# "startTransaction"'), CommandNotFound 59, CommandNotSupported 115, and
# OperationNotSupportedInTransaction 263.
_REFUSAL_CODES: Final = frozenset({20, 9, 40415, 59, 115})
_REFUSAL_HINTS: Final = ("transaction", "txnnumber", "autocommit", "retryable writes")


def transactions_refused(exc: BaseException) -> bool:
    """Whether ``exc`` is a server (or driver) refusing transactions, not an operation error."""
    if isinstance(exc, ConfigurationError | InvalidOperation):
        return "transaction" in str(exc).lower()
    if not isinstance(exc, OperationFailure):
        return False
    code = exc.code
    if isinstance(exc, BulkWriteError):
        errors = (exc.details or {}).get("writeErrors") or []
        code = errors[0].get("code") if errors else code
    if code == 263:
        return True
    message = mongo_error_message(exc).lower()
    return code in _REFUSAL_CODES and any(hint in message for hint in _REFUSAL_HINTS)


async def run_atomic(
    db: AsyncDatabase[Document], coll: AsyncCollection[Document], plan: list[Op]
) -> BatchResult:
    failed_at: list[int] = []

    async def body(session: AsyncClientSession) -> list[BatchOperationResult]:
        failed_at.clear()  # with_transaction may retry the whole body on transient errors
        results: list[BatchOperationResult] = []
        for index, op in enumerate(plan):
            try:
                results.append(
                    BatchOperationResult.of(index, await execute(coll, op, session=session))
                )
            except PyMongoError:
                failed_at.append(index)
                raise
        return results

    try:
        async with db.client.start_session() as session:
            results = await session.with_transaction(body)
    except PyMongoError as exc:
        if transactions_refused(exc):
            raise TransactionsUnavailable(str(exc)) from exc
        where = failed_at[0] if failed_at else None
        stage = "the commit" if where is None else f"operation {where}"
        return BatchResult(
            atomic=True,
            success=False,
            completed=0,
            failed_at=where,
            error=f"{stage} failed: {mongo_error_message(exc)}; the transaction was rolled "
            "back, no operation took effect",
            results=[],
        )
    return BatchResult(atomic=True, success=True, completed=len(results), results=results)


async def run_ordered(coll: AsyncCollection[Document], plan: list[Op]) -> BatchResult:
    results: list[BatchOperationResult] = []
    for index, op in enumerate(plan):
        try:
            results.append(BatchOperationResult.of(index, await execute(coll, op)))
        except (InsertFailed, PyMongoError) as exc:
            reason = exc.message if isinstance(exc, InsertFailed) else mongo_error_message(exc)
            applied = (
                f"operations 0..{index - 1} were applied and stay applied"
                if index
                else "no earlier operation was applied"
            )
            return BatchResult(
                atomic=False,
                success=False,
                completed=len(results),
                failed_at=index,
                error=f"operation {index} ({op.kind}) failed: {reason}. This MongoDB server "
                f"does not support transactions, so the batch ran in order without one: "
                f"{applied}; later operations were not run",
                results=results,
            )
    return BatchResult(atomic=False, success=True, completed=len(results), results=results)

"""The MongoDB store: generic CRUD on the collections of one database.

Beyond the shared rules (:mod:`.writes`): collection names are checked
(:func:`~.mongo_catalog.collection_name`); reading or changing a collection that does not
exist is :class:`~petrosa_gateway.errors.NotFound`, inserting (or upserting) creates it;
``leader_election``, ``dead_letters`` and ``schemas`` are read-only. How records are stored
and batches run: :mod:`.mongo_writes`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from petrosa_common.mongo import Document, estimated_count
from petrosa_common.naming import COORDINATION_COLLECTIONS
from pymongo.asynchronous.database import AsyncDatabase

from petrosa_gateway.errors import BadRequest
from petrosa_gateway.store.language import ReadQuery
from petrosa_gateway.store.models import (
    BatchResult,
    DeleteResult,
    InsertResult,
    ListResult,
    UpdateResult,
    settled_total,
)
from petrosa_gateway.store.mongo_catalog import (
    collection_name,
    ensure_collection_exists,
    refused,
    remember_collection,
)
from petrosa_gateway.store.mongo_writes import (
    InsertFailed,
    TransactionsUnavailable,
    documents,
    insert_unordered,
    prepare,
    prepare_batch,
    run_atomic,
    run_ordered,
    update_result,
)
from petrosa_gateway.store.to_mongo import mongo_filter, mongo_projection, mongo_sort
from petrosa_gateway.store.writes import Delete, Insert, StoreName, Update, Write, ensure_writable


class MongoStore:
    """CRUD on the collections of ``db``; reads run under ``max_time_ms`` on the server."""

    name: StoreName = "mongodb"
    read_only: frozenset[str] = COORDINATION_COLLECTIONS

    def __init__(self, db: AsyncDatabase[Document], *, max_time_ms: int | None = None) -> None:
        self.db = db
        self.max_time_ms = max_time_ms

    async def list(self, *, collection: str, query: ReadQuery) -> ListResult:
        """Ties in the sort (and an unsorted read) are ordered by ``_id``: pages never overlap.

        Reads are bounded by the page: ``limit`` documents after ``offset``, in the client's
        sort then ``_id`` (an unsorted page walks the ``_id`` index and stops after
        ``offset + limit`` entries). A filter or sort on unindexed fields is the client's
        query and costs what MongoDB makes it cost, under ``max_time_ms``. ``total``
        without a filter is the collection's metadata count (:func:`estimated_count`: O(1)
        on MongoDB, where a ``count_documents({})`` would walk every document), settled
        exactly on the last page; with a filter it counts the matches.
        """
        name = collection_name(collection)
        where = mongo_filter(query.filter)
        sort = mongo_sort(query.sort, tiebreak="_id")
        await ensure_collection_exists(self.db, name)
        limits: dict[str, Any] = {} if self.max_time_ms is None else {"maxTimeMS": self.max_time_ms}
        coll = self.db[name]
        with refused("query"):
            if where:
                counted = await coll.count_documents(where, **limits)
            else:
                counted = await estimated_count(coll, max_time_ms=self.max_time_ms)
            cursor = coll.find(
                where, mongo_projection(query.fields), sort=sort, skip=query.offset,
                limit=query.limit, max_time_ms=self.max_time_ms,
            )  # fmt: skip
            docs = await cursor.to_list(query.limit)
        total = settled_total(
            counted=counted, offset=query.offset, limit=query.limit, read=len(docs)
        )
        return ListResult.page(docs, total=total, limit=query.limit, offset=query.offset)

    async def insert(self, *, collection: str, write: Insert) -> InsertResult:
        """Unordered: a record the server refuses for another reason than a duplicate key is
        :class:`BadRequest` saying how many records were inserted."""
        name = self._writable(collection)
        docs = documents(write)
        try:
            return await insert_unordered(self.db[name], list(docs))
        except InsertFailed as exc:
            raise BadRequest(exc.message) from exc
        finally:
            remember_collection(self.db, name)

    async def update(self, *, collection: str, write: Update) -> UpdateResult:
        """``$set`` on every match; with ``upsert`` a missing record (and collection) is made."""
        name = self._writable(collection)
        op = prepare(write)
        if not write.upsert:
            await ensure_collection_exists(self.db, name)
        with refused("update"):
            raw = await self.db[name].update_many(op.filter, op.update, upsert=write.upsert)
        if write.upsert:
            remember_collection(self.db, name)
        return update_result(raw)

    async def delete(self, *, collection: str, write: Delete) -> DeleteResult:
        name = self._writable(collection)
        await ensure_collection_exists(self.db, name)
        with refused("delete"):
            raw = await self.db[name].delete_many(mongo_filter(write.filter))
        return DeleteResult(deleted_count=raw.deleted_count)

    async def batch(self, *, collection: str, writes: Sequence[Write]) -> BatchResult:
        """Atomic where the server runs transactions, else in order up to the first failure."""
        name = self._writable(collection)
        plan = prepare_batch(writes)
        creates = any(op.kind == "insert" or op.upsert for op in plan)
        if not creates:
            await ensure_collection_exists(self.db, name)
        try:
            try:
                return await run_atomic(self.db, self.db[name], plan)
            except TransactionsUnavailable:
                return await run_ordered(self.db[name], plan)
        finally:
            if creates:
                remember_collection(self.db, name)

    def _writable(self, collection: str) -> str:
        name = collection_name(collection)
        ensure_writable(name, self.read_only)
        return name

"""What the stores answer (the API compatibility contract), and the batch request they take.

Records in results hold the stores' own values (ObjectId, Decimal, datetime, ...): the reply
encoding (:mod:`.encoding`) turns them into JSON, the same way for both stores.
"""

from __future__ import annotations

from typing import Any, Final, Literal, Self

from pydantic import BaseModel, Field

from petrosa_gateway.inputs import Record, UpdateData

MAX_PAGE_SIZE: Final = 10_000
MAX_BATCH_OPERATIONS: Final = 5_000


class Pagination(BaseModel):
    """Where a page sits in the whole result."""

    total: int
    limit: int
    offset: int
    page: int
    pages: int
    has_next: bool
    has_previous: bool

    @classmethod
    def of(cls, *, total: int, limit: int, offset: int) -> Pagination:
        """Pagination numbers for ``limit``/``offset`` over ``total`` records."""
        return cls(
            total=total,
            limit=limit,
            offset=offset,
            page=offset // limit + 1 if limit else 1,
            pages=(total + limit - 1) // limit if limit else 0,
            has_next=offset + limit < total,
            has_previous=offset > 0,
        )


def settled_total(*, counted: int, offset: int, limit: int, read: int) -> int:
    """The ``pagination.total`` of a page that read ``read`` records after skipping
    ``offset``, given the database's ``counted``.

    A page that ends before ``limit`` reached the end of the result, so the total is known
    exactly: ``offset + read`` (or at most ``offset`` when it is empty past the end). That
    keeps the last page true even when ``counted`` is a metadata estimate (MongoDB's
    ``estimated_document_count``, which may count documents outside the result, or lag);
    with an exact ``counted`` it changes nothing.
    """
    if read == limit:
        return max(counted, offset + read)
    if read or offset == 0:
        return offset + read
    return min(counted, offset)


class ListResult(BaseModel):
    """A page of records."""

    data: list[dict[str, Any]]
    pagination: Pagination

    @classmethod
    def page(cls, data: list[dict[str, Any]], *, total: int, limit: int, offset: int) -> Self:
        """``data``, the page at ``offset`` of ``total`` records, ``limit`` per page."""
        return cls(data=data, pagination=Pagination.of(total=total, limit=limit, offset=offset))


class InsertResult(BaseModel):
    """Outcome of an insert: duplicates are reported, never stored twice."""

    inserted_count: int
    inserted_ids: list[Any] = Field(default_factory=list)
    duplicates: int = 0
    duplicate_ids: list[Any] = Field(default_factory=list)


class UpdateResult(BaseModel):
    """Outcome of an update."""

    matched_count: int
    modified_count: int
    upserted_count: int = 0
    upserted_id: Any | None = None


class DeleteResult(BaseModel):
    """Outcome of a delete."""

    deleted_count: int


class BatchOperation(BaseModel):
    """One operation of a batch."""

    type: Literal["insert", "update", "delete"]
    data: UpdateData | list[Record] | None = Field(
        None, description="insert: a record or a list of records; update: the fields to set"
    )
    filter: dict[str, Any] | None = None
    upsert: bool = False


class BatchRequest(BaseModel):
    """Up to :data:`MAX_BATCH_OPERATIONS` operations, applied in order."""

    operations: list[BatchOperation] = Field(min_length=1, max_length=MAX_BATCH_OPERATIONS)


class BatchOperationResult(BaseModel):
    """What one batch operation did."""

    index: int
    type: Literal["insert", "update", "delete"]
    inserted_count: int = Field(0, description="insert: records stored")
    duplicates: int = Field(0, description="insert: records already stored (not stored again)")
    matched_count: int = Field(0, description="update: records the filter matched")
    modified_count: int = Field(0, description="update: records whose values changed")
    upserted_count: int = Field(0, description="update: 1 when the upsert inserted a record")
    deleted_count: int = Field(0, description="delete: records deleted")

    @classmethod
    def of(cls, index: int, result: InsertResult | UpdateResult | DeleteResult) -> Self:
        """The counts of one operation's result (a batch's answer lists no ids)."""
        kind: Literal["insert", "update", "delete"] = (
            "insert" if isinstance(result, InsertResult)
            else "update" if isinstance(result, UpdateResult) else "delete"
        )  # fmt: skip
        return cls(index=index, type=kind, **result.model_dump(include=set(cls.model_fields)))


class BatchResult(BaseModel):
    """Outcome of a batch.

    ``atomic`` says whether the batch ran in one transaction (all-or-nothing). When it did
    not (a MongoDB server without transactions), operations ran in order and stopped at the
    first failure: ``completed`` operations took effect, ``failed_at``/``error`` say where
    and why it stopped.
    """

    atomic: bool
    success: bool
    completed: int
    failed_at: int | None = None
    error: str | None = None
    results: list[BatchOperationResult]

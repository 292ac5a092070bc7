"""The catalog: datasets, their schemas (registered or inferred) and their lineage graph.

Free of HTTP: functions take the pool (and database), return plain rows, and say "unknown"
with ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from petrosa_common.analytics import ANALYTICS_LATEST_COLLECTION
from petrosa_common.mongo import Document
from petrosa_common.naming import SCHEMAS_COLLECTION
from petrosa_common.postgres import PgPool
from psycopg import sql
from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

DATASET_COLUMNS: Final = (
    "id",
    "kind",
    "symbol",
    "timeframe",
    "storage",
    "collection",
    "schema_name",
    "schema_version",
    "record_count",
    "first_timestamp",
    "last_timestamp",
    "health_level",
    "update_frequency_seconds",
    "tags",
    "created_at",
    "updated_at",
    "last_audited_at",
    "counted_at",
    "retention_seconds",
    "retention_cutoff",
    "retention_run_at",
    "retention_deleted_total",
)
SORT_COLUMNS: Final = (
    "id",
    "kind",
    "symbol",
    "timeframe",
    "record_count",
    "first_timestamp",
    "last_timestamp",
    "health_level",
    "created_at",
    "updated_at",
)
SortColumn = Literal[
    "id",
    "kind",
    "symbol",
    "timeframe",
    "record_count",
    "first_timestamp",
    "last_timestamp",
    "health_level",
    "created_at",
    "updated_at",
]
SCHEMA_SAMPLE_SIZE: Final = 100
_SELECT: Final = sql.SQL("SELECT {} FROM datasets").format(
    sql.SQL(", ").join(map(sql.Identifier, DATASET_COLUMNS))
)


@dataclass(frozen=True, slots=True)
class DatasetFilter:
    """What ``GET /catalog/datasets`` selects; ``search`` is a case-insensitive substring of
    the id or of a tag."""

    kind: str | None = None
    symbol: str | None = None
    timeframe: str | None = None
    health_level: str | None = None
    search: str | None = None


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _where(selected: DatasetFilter) -> tuple[sql.Composable, list[Any]]:
    clauses: list[sql.Composable] = []
    params: list[Any] = []
    for column in ("kind", "symbol", "timeframe", "health_level"):
        value = getattr(selected, column)
        if value is not None:
            clauses.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
            params.append(value)
    if selected.search:
        clauses.append(
            sql.SQL("(id ILIKE %s OR EXISTS (SELECT 1 FROM unnest(tags) tag WHERE tag ILIKE %s))")
        )
        params += [_like(selected.search)] * 2
    if not clauses:
        return sql.SQL(""), params
    return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(clauses), params


async def list_datasets(
    pool: PgPool,
    selected: DatasetFilter,
    *,
    sort: SortColumn = "id",
    descending: bool = False,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    """A page of datasets (sorted, ties broken by id) and the total that match."""
    if sort not in SORT_COLUMNS:  # the route's type says so; SQL is spelled from this list
        raise ValueError(f"cannot sort on {sort!r}")
    where, params = _where(selected)
    direction = sql.SQL("DESC NULLS LAST" if descending else "ASC NULLS LAST")
    page = sql.SQL("{}{} ORDER BY {} {}, id LIMIT %s OFFSET %s").format(
        _SELECT, where, sql.Identifier(sort), direction
    )
    async with pool.connection() as conn:
        cursor = await conn.execute(page, [*params, limit, offset])
        rows = await cursor.fetchall()
        count = sql.SQL("SELECT count(*) AS n FROM datasets{}").format(where)
        cursor = await conn.execute(count, params)
        total = await cursor.fetchone()
    return list(rows), int(total["n"]) if total else 0


async def get_dataset(pool: PgPool, dataset_id: str) -> dict[str, Any] | None:
    """One dataset's catalog row; ``None`` when unknown."""
    async with pool.connection() as conn:
        cursor = await conn.execute(_SELECT + sql.SQL(" WHERE id = %s"), (dataset_id,))
        return await cursor.fetchone()


async def registered_schema(
    db: AsyncDatabase[Document], name: str, version: int | None
) -> Document | None:
    """The registry's entry ``name`` (at ``version``, else its newest version) from the
    MongoDB ``schemas`` collection (fields ``name``, ``version``, ``status``, ``schema``)."""
    query: dict[str, Any] = {"name": name}
    if version is not None:
        query["version"] = version
    return await db[SCHEMAS_COLLECTION].find_one(query, sort=[("version", DESCENDING)])


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, datetime):
        return "date-time"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__  # ObjectId, Decimal128, bytes: named as BSON knows them


def infer_fields(documents: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Top-level fields seen in ``documents``: name, the JSON types seen (sorted), and the
    share of documents having the field (rounded to 4 places), by name."""
    types: dict[str, set[str]] = {}
    counts: dict[str, int] = {}
    for document in documents:
        for name, value in document.items():
            types.setdefault(name, set()).add(_json_type(value))
            counts[name] = counts.get(name, 0) + 1
    total = len(documents)
    return [
        {"name": name, "types": sorted(types[name]), "presence": round(counts[name] / total, 4)}
        for name in sorted(types)
    ]


async def _sample(db: AsyncDatabase[Document], dataset: Mapping[str, Any]) -> list[Document]:
    # Analytics families share one collection: a family's documents carry its metric name.
    if dataset["collection"] == ANALYTICS_LATEST_COLLECTION and dataset["kind"] == "analytics":
        query = {"metric": str(dataset["id"]).removeprefix("analytics_")}
        order = "computed_at"
    else:
        query, order = {}, "timestamp"
    cursor = db[dataset["collection"]].find(
        query, sort=[(order, DESCENDING)], limit=SCHEMA_SAMPLE_SIZE
    )
    return await cursor.to_list()


async def _table_columns(pool: PgPool, table: str) -> list[dict[str, Any]]:
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = %s ORDER BY column_name",
            (table,),
        )
        rows = await cursor.fetchall()
    return [{"name": r["column_name"], "types": [r["data_type"]], "presence": 1.0} for r in rows]


async def dataset_schema(
    pool: PgPool, db: AsyncDatabase[Document], dataset_id: str
) -> dict[str, Any] | None:
    """The registered schema of a dataset, or the fields observed in its newest
    :data:`SCHEMA_SAMPLE_SIZE` documents (``inferred: true``); ``None`` when unknown."""
    dataset = await get_dataset(pool, dataset_id)
    if dataset is None:
        return None
    answer: dict[str, Any] = {"dataset_id": dataset_id, "storage": dataset["storage"]}
    if dataset["schema_name"] is not None and dataset["storage"] == "mongodb":
        entry = await registered_schema(db, dataset["schema_name"], dataset["schema_version"])
        if entry is not None:
            return {
                **answer,
                "inferred": False,
                "name": entry.get("name"),
                "version": entry.get("version"),
                "status": entry.get("status"),
                "schema": entry.get("schema"),
                "fields": None,
                "sample_size": None,
            }
    if dataset["storage"] == "mongodb":
        documents = await _sample(db, dataset)
        fields = infer_fields(documents)
        sample_size = len(documents)
    else:  # a PostgreSQL table: its columns are what is observed
        fields = await _table_columns(pool, dataset["collection"])
        sample_size = 0
    return {
        **answer,
        "inferred": True,
        "name": dataset["schema_name"],
        "version": dataset["schema_version"],
        "status": None,
        "schema": None,
        "fields": fields,
        "sample_size": sample_size,
    }


async def _edges_touching(
    pool: PgPool, nodes: Sequence[str], column: Literal["source", "target"]
) -> list[dict[str, Any]]:
    async with pool.connection() as conn:
        query = sql.SQL(
            "SELECT source, process, target, details, created_at AS first_seen, last_seen"
            " FROM lineage_edges WHERE {} = ANY(%s) ORDER BY source, process, target"
        ).format(sql.Identifier(column))
        cursor = await conn.execute(query, (list(nodes),))
        return list(await cursor.fetchall())


async def _walk(
    pool: PgPool, start: str, depth: int, direction: Literal["upstream", "downstream"]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Nodes reached from ``start`` within ``depth`` hops (each with the hop it was first
    reached at) and the edges walked."""
    near: Literal["source", "target"] = "target" if direction == "upstream" else "source"
    far = "source" if near == "target" else "target"
    seen = {start}
    frontier = [start]
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    for hop in range(1, depth + 1):
        if not frontier:
            break
        found = await _edges_touching(pool, frontier, near)
        edges += found
        frontier = []
        for edge in found:
            node = edge[far]
            if node not in seen:
                seen.add(node)
                frontier.append(node)
                nodes.append({"id": node, "depth": hop})
    return nodes, edges


async def lineage(pool: PgPool, dataset_id: str, depth: int) -> dict[str, Any] | None:
    """Upstream and downstream of a dataset within ``depth`` hops, with every edge walked
    (process, details, first and last seen); ``None`` when the dataset is unknown."""
    if await get_dataset(pool, dataset_id) is None:
        return None
    upstream, up_edges = await _walk(pool, dataset_id, depth, "upstream")
    downstream, down_edges = await _walk(pool, dataset_id, depth, "downstream")
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT id FROM datasets WHERE id = ANY(%s)",
            ([node["id"] for node in (*upstream, *downstream)],),
        )
        catalogued = {row["id"] for row in await cursor.fetchall()}
    for node in (*upstream, *downstream):
        node["type"] = "dataset" if node["id"] in catalogued else "external"
    unique = {(e["source"], e["process"], e["target"]): e for e in (*up_edges, *down_edges)}
    return {
        "dataset": dataset_id,
        "depth": depth,
        "upstream": upstream,
        "downstream": downstream,
        "edges": [unique[key] for key in sorted(unique)],
    }

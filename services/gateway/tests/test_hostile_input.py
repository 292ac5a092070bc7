"""Hostile input never answers 5xx: every refusal is a 4xx with the ``{error, detail}`` body.

The explicit cases schemathesis once found (bigints, NUL bytes, dates that overflow in UTC,
MongoDB's 8-byte ints, bodies that are not UTF-8, a control character in a field name that
broke every later read on FerretDB, an empty record served as an all-null candle) run here
against one gateway on real FerretDB and PostgreSQL, seeded through the ingestor's path.
After each refused write the data is still readable.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import psycopg
import pytest
from petrosa_devtools.infra import InfraUrls
from petrosa_gateway.inputs import MAX_OFFSET
from petrosa_gateway.queries.market_items import Candle
from prometheus_client import REGISTRY
from pydantic import TypeAdapter

from .conftest import ADMIN_KEY, Gateway
from .fresh_gateway import fresh_gateway
from .seeding import ingest

pytestmark = pytest.mark.integration

ADMIN = {"X-API-Key": ADMIN_KEY}
CANDLE: TypeAdapter[Candle] = TypeAdapter(Candle)
BIG = 2**63  # one past PostgreSQL's bigint and MongoDB's 8-byte int
NOTES_DDL = "CREATE TABLE notes (id BIGINT PRIMARY KEY, doc JSONB, title TEXT, at TIMESTAMPTZ)"


@pytest.fixture(scope="module")
async def gw(infra_urls: InfraUrls) -> AsyncIterator[Gateway]:
    """One gateway for the module, on databases holding ingested BTCUSDT/ETHUSDT data."""
    async with fresh_gateway(
        infra_urls, prefix="hostile", api_keys={ADMIN_KEY: ["admin"]}
    ) as fresh:
        with psycopg.connect(fresh.postgres_url, autocommit=True) as conn:
            conn.execute(NOTES_DDL)
            conn.execute("INSERT INTO notes (id, title) VALUES (1, 'first')")
        await ingest(infra_urls.mongodb_url, fresh.name, frames=2_000, kline_frames=4_000)
        yield fresh.gateway


def refused(response: Any, status: int, error: str) -> str:
    """Assert the documented error shape; the detail."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error, body
    assert isinstance(body["detail"], str), body
    assert body["detail"], body
    return str(body["detail"])


async def readable(gw: Gateway) -> None:
    """The seeded data still reads, through /data/* and CRUD, on both stores."""
    for path, params in (
        ("/data/trades", {"pair": "BTCUSDT"}),
        ("/data/trades", {"pair": "ETHUSDT"}),
        ("/data/candles", {"pair": "ETHUSDT", "period": "1m"}),
        ("/api/v1/mongodb/trades_BTCUSDT", {"limit": 5}),
        ("/api/v1/mongodb/trades_ETHUSDT", {"limit": 5}),
        ("/api/v1/postgres/notes", {}),
    ):
        response = await gw.client.get(path, params=params, headers=ADMIN)
        assert response.status_code == 200, (path, response.text)
        assert response.json()["data"], path


def _filter(spec: dict[str, Any]) -> dict[str, str]:
    return {"filter": orjson.dumps(spec).decode()}


BACKFILL = {"symbol": "BTCUSDT", "timeframe": "1m"}
ISSUE_EXAMPLES: list[tuple[str, str, dict[str, Any], int, str]] = [
    ("GET", "/backfill/jobs", {"params": {"offset": BIG}}, 422, "invalid_parameter"),
    ("GET", "/backfill/jobs", {"params": {"symbol": "BTC\x00USDT"}}, 422, "invalid_parameter"),
    ("GET", "/backfill/jobs/9223372036854775808", {}, 422, "invalid_parameter"),
    (
        "POST",
        "/backfill/start",
        {"json": {**BACKFILL, "start": "0001-01-01T00:01:00+04:00", "end": "2024-01-02"}},
        422,
        "invalid_parameter",
    ),
    (
        "POST",
        "/backfill/start",
        {"json": {**BACKFILL, "start": "9999-12-31T23:59:00-01:00", "end": "2024-01-02"}},
        422,
        "invalid_parameter",
    ),
    (
        "POST",
        "/backfill/start",
        {"json": {**BACKFILL, "start": "2024-01-01", "end": "2024-01-02", "details": {"\x00": 1}}},
        422,
        "invalid_parameter",
    ),
    (
        "GET",
        "/data/tickers",
        {"params": {"pair": "ETHUSDT", "offset": BIG}},
        422,
        "invalid_parameter",
    ),
    (
        "GET",
        "/data/candles",
        {"params": {"pair": "ETHUSDT", "period": "1m", "offset": BIG}},
        422,
        "invalid_parameter",
    ),
    (
        "GET",
        "/data/trades",
        {"params": {"pair": "ETHUSDT", "offset": MAX_OFFSET + 1}},
        422,
        "invalid_parameter",
    ),
    (
        "GET",
        "/data/trades",
        {"params": {"pair": "ETHUSDT", "start": "0001-01-01T00:01:00+04:00"}},
        422,
        "invalid_parameter",
    ),
    ("GET", "/data/trades", {"params": {"pair": "ETH\x00USDT"}}, 422, "invalid_parameter"),
    (
        "GET",
        "/health",
        {"params": {"pair": "BTC\x00USDT", "period": "1m"}},
        422,
        "invalid_parameter",
    ),
    (
        "GET",
        "/api/v1/mongodb/trades_ETHUSDT",
        {"params": {"offset": BIG}},
        422,
        "invalid_parameter",
    ),
    ("GET", "/api/v1/postgres/notes", {"params": {"offset": BIG}}, 422, "invalid_parameter"),
    (
        "GET",
        "/api/v1/mongodb/trades_ETHUSDT",
        {"params": {"sort": "timestamp\x00"}},
        422,
        "invalid_parameter",
    ),
    (
        "POST",
        "/api/v1/data/query",
        {"json": {"database": "mongodb", "collection": "trades_ETHUSDT", "offset": BIG}},
        422,
        "invalid_parameter",
    ),
    (
        "GET",
        "/api/v1/mongodb/trades_ETHUSDT",
        {"params": _filter({"timestamp": {"$gte": "0001-01-01T00:01:00+04:00"}})},
        400,
        "bad_request",
    ),
    (
        "GET",
        "/api/v1/postgres/notes",
        {"params": _filter({"at": {"$lt": "9999-12-31T23:59:00-01:00"}})},
        400,
        "bad_request",
    ),
    (
        "GET",
        "/api/v1/mongodb/trades_ETHUSDT",
        {"params": _filter({"symbol": "BTC\x00USDT"})},
        400,
        "bad_request",
    ),
    ("GET", "/api/v1/postgres/notes", {"params": _filter({"title": "a\x0fb"})}, 400, "bad_request"),
    ("GET", "/api/v1/postgres/notes", {"params": _filter({"id": BIG})}, 400, "bad_request"),
    (
        "POST",
        "/api/v1/raw/mongodb",
        {"json": {"query": {"collection": "trades_ETHUSDT", "find": {}, "skip": BIG}}},
        400,
        "bad_request",
    ),
    ("GET", "/no/such/route", {}, 404, "not_found"),
    ("PATCH", "/api/v1/mongodb/trades_ETHUSDT", {}, 405, "method_not_allowed"),
]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "error"),
    ISSUE_EXAMPLES,
    ids=[f"{m} {p} {status}" for m, p, _, status, _ in ISSUE_EXAMPLES],
)
async def test_hostile_parameters_answer_4xx_with_error_and_detail(
    gw: Gateway, method: str, path: str, kwargs: dict[str, Any], status: int, error: str
) -> None:
    response = await gw.client.request(method, path, headers=ADMIN, **kwargs)
    refused(response, status, error)
    await readable(gw)


async def test_a_validation_error_lists_every_reason_in_the_documented_shape(gw: Gateway) -> None:
    response = await gw.client.get(
        "/data/candles", params={"pair": "x!", "period": "2m", "offset": -1}, headers=ADMIN
    )
    detail = refused(response, 422, "invalid_parameter")
    errors = response.json()["errors"]
    assert sorted(error["loc"][1] for error in errors) == ["offset", "pair", "period"]
    for where in ("query.pair", "query.period", "query.offset"):
        assert where in detail


async def test_a_wrong_method_says_which_methods_are_allowed(gw: Gateway) -> None:
    response = await gw.client.patch("/api/v1/mongodb/trades_ETHUSDT", headers=ADMIN)
    refused(response, 405, "method_not_allowed")
    assert set(response.headers["allow"].replace(" ", "").split(",")) == {
        "GET",
        "POST",
        "PUT",
        "DELETE",
    }


BODY_OPERATIONS = [
    ("POST", "/backfill/start"),
    ("POST", "/api/v1/raw/postgres"),
    ("POST", "/api/v1/raw/mysql"),
    ("POST", "/api/v1/raw/mongodb"),
    ("POST", "/api/v1/data/query"),
    ("POST", "/api/v1/data/insert"),
    ("POST", "/api/v1/mongodb/trades_ETHUSDT"),
    ("PUT", "/api/v1/mongodb/trades_ETHUSDT"),
    ("POST", "/api/v1/postgres/notes/batch"),
]


@pytest.mark.parametrize(("method", "path"), BODY_OPERATIONS)
async def test_a_body_that_is_not_utf8_is_a_400_with_error_and_detail(
    gw: Gateway, method: str, path: str
) -> None:
    response = await gw.client.request(
        method,
        path,
        content=b'{"data": "\xff\xfe\xc3"}',
        headers={**ADMIN, "Content-Type": "application/json"},
    )
    detail = refused(response, 400, "bad_request")
    assert "not valid UTF-8" in detail
    await readable(gw)


# Bodies as sent (not what json.dumps would make of them): NaN and Infinity are not JSON but
# Python's parser takes them; a lone surrogate escape decodes to a string no store can encode.
RAW_BODIES = [
    ("/api/v1/raw/mongodb", b'{"query": {"collection": "trades_ETHUSDT", "find": {"a": NaN}}}'),
    (
        "/api/v1/raw/mongodb",
        b'{"query": {"collection": "trades_ETHUSDT", "find": {"a": "\\ud800"}}}',
    ),
    (
        "/api/v1/raw/mongodb",
        b'{"query": {"collection": "trades_ETHUSDT", "find": {"a\\u0000": 1}}}',
    ),
    ("/api/v1/mongodb/trades_ETHUSDT", b'{"data": {"a": NaN}}'),
    ("/api/v1/mongodb/trades_ETHUSDT", b'{"data": {"a": -Infinity}}'),
    ("/api/v1/mongodb/trades_ETHUSDT", b'{"data": {"a": "\\udc00"}}'),
    ("/api/v1/postgres/notes", b'{"data": {"id": 7, "title": "\\ud800"}}'),
    ("/api/v1/mongodb/trades_ETHUSDT", b'{"data": ' + b"[" * 5000 + b"]" * 5000 + b"}"),
]


@pytest.mark.parametrize(("path", "content"), RAW_BODIES, ids=[body[:60] for _, body in RAW_BODIES])
async def test_bodies_json_does_not_allow_are_refused_not_sent_to_the_store(
    gw: Gateway, path: str, content: bytes
) -> None:
    response = await gw.client.post(
        path, content=content, headers={**ADMIN, "Content-Type": "application/json"}
    )
    refused(response, 400, "bad_request")
    await readable(gw)


BAD_NAMES = ["", "a\x0fb", "a\x00b", "tab\tname", "del\x7f", "$where", "a.b"]


def _placements(name: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("top", {name: 1}),
        ("nested", {"doc": {"ok": {name: 1}}}),
        ("in a list", {"doc": [{"fine": 1}, {name: 1}]}),
    ]


def _writes(record: dict[str, Any], table: str) -> list[tuple[str, str, dict[str, Any]]]:
    """Every CRUD write carrying ``record``: (method, path, json)."""
    writes = [
        ("POST", f"/api/v1/{{db}}/{table}", {"data": record}),
        ("POST", f"/api/v1/{{db}}/{table}", {"data": [{"id": 2}, record]}),
        (
            "POST",
            "/api/v1/data/insert",
            {"database": "{db}", "collection": table, "records": [record]},
        ),
        (
            "POST",
            f"/api/v1/{{db}}/{table}/batch",
            {"operations": [{"type": "insert", "data": record}]},
        ),
    ]
    if "." not in next(iter(record)):  # a dotted top-level key is a path in an update
        writes += [
            ("PUT", f"/api/v1/{{db}}/{table}", {"filter": {"id": 1}, "data": record}),
            ("PUT", f"/api/v1/{{db}}/{table}", {"filter": {"id": 1}, "data": {"$set": record}}),
            (
                "POST",
                f"/api/v1/{{db}}/{table}/batch",
                {"operations": [{"type": "update", "filter": {"id": 1}, "data": record}]},
            ),
        ]
    return writes


def _on(database: str, value: Any, table: str) -> Any:
    if isinstance(value, str):
        return value.replace("{db}", database).replace(table, _TABLES[database])
    if isinstance(value, dict):
        return {key: _on(database, item, table) for key, item in value.items()}
    if isinstance(value, list):
        return [_on(database, item, table) for item in value]
    return value


_TABLES = {"mongodb": "trades_ETHUSDT", "postgres": "notes"}


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
async def test_bad_field_names_are_refused_alike_on_both_stores_at_every_depth(
    gw: Gateway, name: str
) -> None:
    """Empty, control characters, NUL, a leading ``$``, a ``.``: the same 400 and the same
    message from MongoDB and PostgreSQL, for inserts, updates, batches and legacy inserts."""
    checked = 0
    for placement, record in _placements(name):
        for method, path, body in _writes(record, "TABLE"):
            details = []
            for database in ("mongodb", "postgres"):
                response = await gw.client.request(
                    method, _on(database, path, "TABLE"), json=_on(database, body, "TABLE"),
                    headers=ADMIN,
                )  # fmt: skip
                details.append(refused(response, 400, "bad_request"))
            assert details[0] == details[1], (placement, method, path, details)
            checked += 1
    assert checked >= 12
    await readable(gw)


async def test_the_control_character_that_broke_ferretdb_reads_is_refused(gw: Gateway) -> None:
    response = await gw.client.post(
        "/api/v1/mongodb/trades_BTCUSDT", json={"data": {"a\x0fb": 1}}, headers=ADMIN
    )
    detail = refused(response, 400, "bad_request")
    assert (
        detail
        == "record 0: field name 'a\\x0fb' must not contain control characters (found U+000F)"
    )
    await readable(gw)


async def test_set_is_the_one_update_operator_on_both_stores(gw: Gateway) -> None:
    for database, collection in _TABLES.items():
        ok = await gw.client.put(
            f"/api/v1/{database}/{collection}",
            json={"filter": {"id": 1}, "data": {"$set": {"doc": {"k": 1}}}, "upsert": True},
            headers=ADMIN,
        )
        assert ok.status_code == 200, ok.text
    details = []
    for database, collection in _TABLES.items():
        response = await gw.client.put(
            f"/api/v1/{database}/{collection}",
            json={"filter": {"id": 1}, "data": {"$unset": {"doc": 1}}},
            headers=ADMIN,
        )
        details.append(refused(response, 400, "bad_request"))
    assert details[0] == details[1]
    assert "other update operators" in details[0]
    await readable(gw)


@pytest.mark.parametrize(
    "record",
    [
        {"symbol": "ETHUSDT", "timestamp": "1969-12-31T23:59:59Z"},
        {"symbol": "ETHUSDT", "timestamp": "0001-01-01T00:01:00+04:00"},
        {"symbol": "ETHUSDT", "timestamp": -1},
        {"symbol": "ETHUSDT", "timestamp": 253_402_300_800_000},  # 10000-01-01 in ms
        {"n": BIG},
        {"n": -BIG - 1},
    ],
    ids=repr,
)
async def test_records_with_dates_or_integers_the_stores_cannot_hold_are_refused(
    gw: Gateway, record: dict[str, Any]
) -> None:
    response = await gw.client.post(
        "/api/v1/mongodb/trades_ETHUSDT", json={"data": record}, headers=ADMIN
    )
    refused(response, 400, "bad_request")
    await readable(gw)


async def test_postgres_refuses_the_same_dates_and_integers(gw: Gateway) -> None:
    for record in ({"id": 9, "at": "0001-01-01T00:01:00+04:00"}, {"id": BIG}):
        response = await gw.client.post(
            "/api/v1/postgres/notes", json={"data": record}, headers=ADMIN
        )
        refused(response, 400, "bad_request")
    await readable(gw)


@pytest.mark.parametrize("value", ["infinity", "-infinity", "epoch", "now", "20000-01-01"])
async def test_postgres_timestamps_it_could_not_read_back_are_refused(
    gw: Gateway, value: str
) -> None:
    """Only ISO-8601 dates: PostgreSQL also takes words and years past 9999, and psycopg
    cannot load ``infinity`` or year 20000 back, so one such row would break every read."""
    response = await gw.client.post(
        "/api/v1/postgres/notes", json={"data": {"id": 9, "at": value}}, headers=ADMIN
    )
    assert "takes ISO-8601 dates in the years 1970-9999" in refused(response, 400, "bad_request")
    await readable(gw)


async def _candles(gw: Gateway) -> dict[str, Any]:
    response = await gw.client.get(
        "/data/candles",
        params={"pair": "BTCUSDT", "period": "1m", "limit": 1000, "sort_order": "asc"},
        headers=ADMIN,
    )
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    for item in page["data"]:
        CANDLE.validate_python(item, strict=False)  # the published item, from JSON
        assert item["timestamp"] is not None
    return page


async def test_an_empty_record_in_a_candles_collection_is_never_served(gw: Gateway) -> None:
    before = await _candles(gw)
    for body in ({"data": {}}, {"data": [{"open": 1}, {"timestamp": None}, {"timestamp": "x"}]}):
        response = await gw.client.post(
            "/api/v1/mongodb/candles_BTCUSDT_1m", json=body, headers=ADMIN
        )
        assert response.status_code == 201, response.text
    after = await _candles(gw)
    assert after["data"] == before["data"]
    assert after["pagination"]["total"] == before["pagination"]["total"]


def _skipped() -> float:
    value = REGISTRY.get_sample_value(
        "data_manager_gateway_skipped_documents_total", {"kind": "candles"}
    )
    return value or 0.0


async def test_a_dated_document_that_does_not_fit_the_model_is_skipped_and_counted(
    gw: Gateway,
) -> None:
    before = await _candles(gw)
    skipped = _skipped()
    response = await gw.client.post(
        "/api/v1/mongodb/candles_BTCUSDT_1m",
        json={
            "data": [
                {"timestamp": "2024-01-01T00:00:30Z", "open": "not a number"},
                {"timestamp": "2024-01-01T00:00:40Z", "trades_count": 1.5},
                {"timestamp": "2024-01-01T00:00:50Z", "close": 1e308, "volume": True},
            ]
        },
        headers=ADMIN,
    )
    assert response.status_code == 201, response.text
    after = await _candles(gw)
    assert after["data"] == before["data"]
    # Still stored and counted (pagination.total is the database's count), never served.
    assert after["pagination"]["total"] == before["pagination"]["total"] + 3
    assert _skipped() == skipped + 3

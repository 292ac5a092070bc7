"""schemathesis over the whole OpenAPI schema, against a gateway seeded with ingested data.

The gateway runs as a real process (uvicorn) on this module's own databases, with secure
settings (reads need a key too); the admin key is sent, so writes and raw queries run, and
schemathesis' authentication checks see keys enforced. Before it starts, simulator frames
are stored through the ingestor's write path (:func:`.seeding.ingest`), so ``/data/*`` and
CRUD reads answer 2xx with real items that are checked against their response models.

Every operation gets generated requests of three kinds: schema-valid (positive), schema-
invalid (negative), and schema-valid anchored on the seeded data (real pairs, periods,
collections, tables, job ids). Every built-in schemathesis check is on. Then the reads run
again, after every write the fuzzing did to the seeded collections: a refused or accepted
write must never make a read fail.

``positive_data_acceptance`` (a schema-valid request must not be refused) is configured
with the statuses the schema cannot rule out, operation by operation (:data:`REFUSALS`).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson
import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from petrosa_devtools.infra import InfraUrls
from petrosa_devtools.processes import ServiceProcess, free_port
from pymongo import MongoClient
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.generation.modes import GenerationMode

from .seeding import SYMBOLS, ingest

pytestmark = pytest.mark.e2e

ADMIN_KEY = "fuzz-admin-key-0123456789"
EXAMPLES = 40
"""Generated requests per operation (about a third of each kind)."""
REREAD_EXAMPLES = 15
"""Anchored requests per read operation in the pass after the writes."""
NOTES_DDL = """
CREATE TABLE fuzz_notes (
    id BIGSERIAL PRIMARY KEY,
    title TEXT,
    body JSONB,
    amount NUMERIC,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""

# Statuses a schema-valid request may still get, by operation: what the OpenAPI schema
# cannot express. 400: the filter language, raw queries, field names at any depth, unknown
# tables/columns/databases, documents the store refuses (all documented, {error, detail}).
# 422: rules across fields or relative to now (start < end, a backfill start in the past,
# a timeframe only for some data types) and the 1970-9999 range of dates given with an
# offset. Everything else of a 422 is in the schema: a schema-valid request never gets one.
_SEMANTIC = ["2xx", "400", "401", "403", "404", "409"]
REFUSALS: dict[str, list[str]] = {
    "^/data/": [*_SEMANTIC, "422"],
    "^/backfill/start$": [*_SEMANTIC, "422"],
    # The methods each metric takes, and `pairs` as a comma-separated list of symbols, are
    # checked by the server; the schema has one free string for each.
    "^/analysis/": [*_SEMANTIC, "422"],
}
# The one documented 5xx: readiness is 503 while a component is down (not expected here).
DOCUMENTED_5XX = {("/health/readiness", "503")}


@dataclass
class Seeded:
    """The gateway's URL and the data stored before it started."""

    url: str
    collections: list[str]
    tables: list[str] = field(default_factory=lambda: ["fuzz_notes", "backfill_jobs"])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.fixture(scope="module")
def seeded(infra_urls: InfraUrls) -> Iterator[Seeded]:
    """A gateway process on fresh databases holding ingested data."""
    name = f"fuzz_{uuid.uuid4().hex[:8]}"
    parts = urlsplit(infra_urls.postgres_url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    postgres_url = urlunsplit(parts._replace(path=f"/{name}"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(NOTES_DDL)
        conn.execute(
            "INSERT INTO fuzz_notes (title, body, amount) VALUES"
            " ('first', '{\"tags\": [\"a\"]}', 1.5), ('second', NULL, 2)"
        )
    collections = asyncio.run(ingest(infra_urls.mongodb_url, name))
    port = free_port()
    folder = Path(tempfile.mkdtemp())
    process = ServiceProcess.python_module(
        "petrosa_gateway",
        {
            "NATS_URL": infra_urls.nats_url,
            "MONGODB_URL": infra_urls.mongodb_url,
            "MONGODB_DATABASE": name,
            "POSTGRES_URL": postgres_url,
            "API_PORT": str(port),
            "METRICS_PORT": "0",
            "API_KEYS": orjson.dumps({ADMIN_KEY: ["admin"]}).decode(),
            "API_REQUIRE_KEY_FOR_READS": "true",
            "NATS_QUERY_ENABLED": "false",
            "LOG_LEVEL": "WARNING",
        },
        folder / "gateway.log",
    )
    process.start()
    url = f"http://127.0.0.1:{port}"
    try:
        process.wait_until(lambda: _answers(f"{url}/health/readiness"), timeout=60)
        yield Seeded(url=url, collections=collections)
    finally:
        process.stop()
        tail = process.log_tail()
        shutil.rmtree(folder, ignore_errors=True)
        with MongoClient(infra_urls.mongodb_url) as mongo:
            mongo.drop_database(name)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        assert "unhandled_error" not in tail, tail


@dataclass
class Run:
    """What the fuzzing did: requests per operation and status, failures, 2xx pages."""

    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    pages_with_items: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def record(self, label: str, response: Any) -> None:
        self.statuses[(label, response.status_code)] += 1
        if response.status_code == 200 and label != "GET /metrics":
            body = response.json()
            if isinstance(body, dict) and body.get("data"):
                self.pages_with_items[label] += 1


# Bodies that hit the seeded data: ordinary writes, and the hostile ones that once broke
# reads (an empty record in a candles collection, a control character in a field name,
# values of the wrong type, dates out of range, 65-bit integers).
WRITE_RECORDS: list[Any] = [
    {},
    {"note": "fine", "nested": {"ok": [1, 2.5, None]}},
    {"symbol": "ETHUSDT", "timestamp": "2024-01-01T00:30:00Z", "open": "x", "trades_count": 1.5},
    [{"timestamp": 5}, {"timestamp": None, "close": 1}],
    {"a\x0fb": 1},
    {"meta": {"$where": 1}},
    {"meta": [{"a.b": 1}]},
    {"symbol": "ETHUSDT", "timestamp": "0001-01-01T00:01:00+04:00"},
    {"n": 2**63},
    {"title": "third", "body": {"tags": ["b"]}, "amount": 3},
    {"title": "fourth", "body": {"a\x00b": 1}},
]
BODIES: dict[str, list[Any]] = {
    "POST /api/v1/{database}/{collection}": [{"data": record} for record in WRITE_RECORDS],
    "POST /api/v1/data/insert": [
        {"database": db, "collection": coll, "records": records}
        for db, coll in (("mongodb", "candles_ETHUSDT_1m"), ("postgres", "fuzz_notes"))
        for records in WRITE_RECORDS
        if isinstance(records, list)
    ]
    + [
        {"database": "mongodb", "collection": "candles_ETHUSDT_5m", "records": [{}]},
        {"database": "postgres", "collection": "fuzz_notes", "records": [{"title": "a\x0fb"}]},
    ],
    "PUT /api/v1/{database}/{collection}": [
        {"filter": {"timestamp": "2024-01-01T00:05:00Z"}, "data": {"open": "x"}},
        {"filter": {"timestamp": "2024-01-01T00:06:00Z"}, "data": {"$set": {"close": None}}},
        {"filter": {"title": "first"}, "data": {"$set": {"amount": 5}}},
        {"filter": {"title": "first"}, "data": {"$unset": {"amount": 1}}},
        {"filter": {"timestamp": {"$gte": "1969-12-31"}}, "data": {"open": 1}},
        {"filter": {"symbol": "ETHUSDT"}, "data": {"meta": {"c\x00": 1}}},
    ],
    "POST /api/v1/{database}/{collection}/batch": [
        {
            "operations": [
                {"type": "insert", "data": {"x": 1}},
                {"type": "update", "filter": {"x": 1}, "data": {"y": 2}},
                {"type": "delete", "filter": {"x": 1}},
            ]
        },
        {"operations": [{"type": "insert", "data": [{"ok": 1}, {"bad\x1f": 2}]}]},
    ],
    "DELETE /api/v1/{database}/{collection}": [
        {"filter": {"timestamp": "2024-01-01T00:07:00Z"}},
        {"filter": {"title": "second"}},
        {"filter": {"timestamp": {"$lt": "0001-01-01T00:01:00+04:00"}}},
        {"filter": {}},
    ],
    "POST /api/v1/data/query": [
        {"database": "mongodb", "collection": "trades_ETHUSDT", "limit": 5},
        {"database": "postgres", "collection": "fuzz_notes", "filter": {"amount": {"$gt": 1}}},
    ],
    "POST /backfill/start": [
        {"symbol": "BTCUSDT", "timeframe": "1m", "start": start, "end": "2024-01-02T00:00:00Z"}
        for start in (
            "2024-01-01T00:00:00Z",
            "0001-01-01T00:01:00+04:00",
            "9999-12-31T23:59:00-01:00",
            "1969-12-31T23:59:59Z",
        )
    ],
    "POST /api/v1/raw/postgres": [{"query": "SELECT id, title FROM fuzz_notes"}],
    "POST /api/v1/raw/mongodb": [{"query": 'trades_ETHUSDT: {"find": {}, "limit": 3}'}],
}


def anchors(operation: Any, seeded: Seeded) -> dict[str, list[Any]]:
    """Per ``as_strategy`` keyword, values that hit the seeded data (the rest is fuzzed)."""
    query = {parameter.name for parameter in operation.query}
    path = {parameter.name for parameter in operation.path_parameters}
    first_page = {"offset": 0} if "offset" in query else {}
    fixed: dict[str, list[Any]] = {}
    if "pair" in query:
        periods = ["1m", "5m"] if "period" in query else [None]
        fixed["query"] = [
            {"pair": pair, **first_page, **({"period": period} if period else {})}
            for pair in (SYMBOLS[0], SYMBOLS[1].lower())
            for period in periods
        ]
    if {"database", "collection"} <= path:
        targets = [("mongodb", name) for name in seeded.collections if "ETHUSDT" in name]
        targets += [("postgres", seeded.tables[0]), ("mysql", seeded.tables[1])]
        fixed["path_parameters"] = [{"database": db, "collection": c} for db, c in targets]
        fixed["query"] = [first_page]
        if operation.method.upper() == "DELETE":
            fixed["query"] = [{}]  # the filter travels in the body, as clients send it
    if "job_id" in path:
        fixed["path_parameters"] = [{"job_id": job_id} for job_id in (1, 2, 3)]
    if operation.label in BODIES:
        fixed["body"] = BODIES[operation.label]
    return fixed


def cases(operation: Any, seeded: Seeded, *, anchored_only: bool = False) -> Any:
    """The operation's request strategy: positive, negative and anchored requests."""
    fixed = anchors(operation, seeded)
    anchored = st.fixed_dictionaries(
        {keyword: st.sampled_from(values) for keyword, values in fixed.items()}
    ).flatmap(lambda values: operation.as_strategy(**values))
    if anchored_only:
        return anchored
    branches = [
        operation.as_strategy(),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    ]
    return st.one_of(*branches, *([anchored] if fixed else []))


def fuzz(operation: Any, strategy: Any, examples: int, run: Run) -> None:
    """``examples`` generated requests for one operation, each checked by every check."""

    @given(case=strategy)
    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def check(case: schemathesis.Case) -> None:
        response = case.call_and_validate(headers={"X-API-Key": ADMIN_KEY}, timeout=30)
        run.record(operation.label, response)

    try:
        check()
    except (AssertionError, FailureGroup) as exc:  # a check failed (one, or several)
        run.failures.append(f"{operation.label}: {exc}"[:3000])


def config() -> SchemathesisConfig:
    """Every check on; the statuses of :data:`REFUSALS` accepted for schema-valid data."""
    operations: list[dict[str, Any]] = [
        {
            "include-path-regex": regex,
            "checks": {"positive_data_acceptance": {"expected-statuses": statuses}},
        }
        for regex, statuses in REFUSALS.items()
    ]
    return SchemathesisConfig.from_dict(
        {
            "checks": {"positive_data_acceptance": {"expected-statuses": _SEMANTIC}},
            "operations": operations,
        }
    )


def server_statuses(url: str) -> Counter[tuple[str, str]]:
    """Requests the gateway answered, by endpoint and status (its own metric)."""
    text = httpx.get(f"{url}/metrics", headers={"X-API-Key": ADMIN_KEY}).text
    counts: Counter[tuple[str, str]] = Counter()
    for line in text.splitlines():
        if line.startswith("data_manager_requests_total{"):
            labels, value = line.rsplit(" ", 1)
            endpoint = labels.split('endpoint="', 1)[1].split('"', 1)[0]
            status = labels.split('status="', 1)[1].split('"', 1)[0]
            counts[(endpoint, status)] += int(float(value))
    return counts


def test_every_operation_answers_within_its_schema(seeded: Seeded) -> None:
    # Driven per operation by hand: schemathesis' lazy pytest fixture loader does not work
    # with pytest 9 (it rewrites a private node attribute that no longer exists).
    api = schemathesis.openapi.from_url(f"{seeded.url}/openapi.json", config=config())
    operations = [result.ok() for result in api.get_all_operations()]
    run = Run()
    for operation in operations:
        fuzz(operation, cases(operation, seeded), EXAMPLES, run)
    reads = [op for op in operations if op.method.upper() == "GET" and anchors(op, seeded)]
    for operation in reads:  # again, after every write above
        fuzz(operation, cases(operation, seeded, anchored_only=True), REREAD_EXAMPLES, run)

    answered = server_statuses(seeded.url)
    by_status = Counter[str]()
    for (_, status), count in answered.items():
        by_status[status] += count
    print(  # the figures of the run (pytest -s shows them)
        f"\nschemathesis: {len(operations)} operations, {sum(run.statuses.values())} generated "
        f"requests, {by_status.total()} requests answered by the gateway (checks' probes "
        f"included), by status {dict(sorted(by_status.items()))}, {len(run.failures)} failures"
    )
    for (label, status), count in sorted(run.statuses.items()):
        print(f"  {label}: {status} x{count}")
    assert not run.failures, "\n\n".join(run.failures)
    server_errors = {
        key: count
        for key, count in answered.items()
        if key[1].startswith("5") and key not in DOCUMENTED_5XX
    }
    assert not server_errors, server_errors
    assert len(operations) >= 25
    exercised = {label for label, _ in run.statuses}
    assert exercised == {op.label for op in operations}, "some operations were never exercised"
    for operation in reads:  # the seeded data was really served, and checked
        if operation.path.startswith(("/data/", "/api/v1/")):
            seen = {k: v for k, v in run.statuses.items() if k[0] == operation.label}
            assert run.pages_with_items[operation.label] > 0, (operation.label, seen)

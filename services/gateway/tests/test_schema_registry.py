"""/schemas/* on real PostgreSQL, a MongoDB-wire server and NATS; the seed README's curl
bodies verbatim first."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import ADMIN_KEY, READ_KEY, WRITE_KEY, Gateway, SettingsFactory, auth, start_gateway

pytestmark = pytest.mark.integration
W = auth(WRITE_KEY)

CANDLE_BODY: dict[str, Any] = {
    "version": 1,
    "schema": {
        "type": "object",
        "required": ["symbol", "timestamp", "open", "high", "low", "close", "volume"],
        "properties": {
            "symbol": {"type": "string", "pattern": "^[A-Z]+$"},
            "timestamp": {"type": "string", "format": "date-time"},
            "open": {"type": "number", "minimum": 0},
            "high": {"type": "number", "minimum": 0},
            "low": {"type": "number", "minimum": 0},
            "close": {"type": "number", "minimum": 0},
            "volume": {"type": "number", "minimum": 0},
        },
    },
    "description": "OHLCV candle data schema",
}
ORDER_BODY: dict[str, Any] = {
    "version": 1,
    "schema": {
        "type": "object",
        "required": ["order_id", "symbol", "side", "type", "status"],
        "properties": {
            "order_id": {"type": "string"},
            "symbol": {"type": "string", "pattern": "^[A-Z]+$"},
            "side": {"type": "string", "enum": ["BUY", "SELL"]},
            "type": {"type": "string", "enum": ["LIMIT", "MARKET"]},
            "status": {"type": "string", "enum": ["NEW", "FILLED", "CANCELED"]},
            "quantity": {"type": "number", "minimum": 0},
            "price": {"type": "number", "minimum": 0},
        },
    },
    "description": "Order management schema",
}
VALIDATE_ONE = {
    "database": "mongodb",
    "schema_name": "candle_v1",
    "data": {
        "symbol": "BTCUSDT",
        "timestamp": "2025-01-01T00:00:00Z",
        "open": 50000,
        "high": 51000,
        "low": 49000,
        "close": 50500,
        "volume": 100.5,
    },
}
VALIDATE_BATCH = {
    "database": "mongodb",
    "schema_name": "candle_v1",
    "data": [
        {
            "symbol": "BTCUSDT",
            "timestamp": "2025-01-01T00:00:00Z",
            "open": 50000,
            "high": 51000,
            "low": 49000,
            "close": 50500,
            "volume": 100.5,
        },
        {
            "symbol": "ETHUSDT",
            "timestamp": "2025-01-01T00:00:00Z",
            "open": 3000,
            "high": 3100,
            "low": 2900,
            "close": 3050,
            "volume": 500.2,
        },
    ],
}
COMPAT_BODY = {
    "database": "mongodb",
    "schema_name": "candle_v1",
    "old_version": 1,
    "new_version": 2,
}
BOOTSTRAP_BODY = {
    "database": "mongodb",
    "schemas": [
        {
            "version": 1,
            "schema": CANDLE_BODY["schema"],
            "description": "OHLCV candle data schema",
        }
    ],
    "overwrite_existing": False,
}


def relaxed(schema: dict[str, Any], *names: str) -> Any:
    """``schema`` without the ``minimum`` of ``names``: a BACKWARD compatible change."""
    properties = dict(schema["properties"])
    for name in names:
        properties[name] = {k: v for k, v in properties[name].items() if k != "minimum"}
    return {**schema, "properties": properties}


def with_field(schema: dict[str, Any], name: str, spec: dict[str, Any], *, required: bool) -> Any:
    changed = {**schema, "properties": {**schema["properties"], name: spec}}
    if required:
        changed["required"] = [*schema["required"], name]
    return changed


async def test_seed_curl_bodies_register_read_validate_compare(gateway: Gateway) -> None:
    client = gateway.client
    created = await client.post("/schemas/mongodb/candle_v1", json=CANDLE_BODY, headers=W)
    assert created.status_code == 201, created.text
    assert created.json()["version"] == 1
    assert created.json()["created"] is True
    order = await client.post("/schemas/mysql/order_v1", json=ORDER_BODY, headers=W)
    assert order.status_code == 201
    assert order.json()["database"] == "postgres"

    latest = (await client.get("/schemas/mongodb/candle_v1")).json()
    assert latest["schema"] == CANDLE_BODY["schema"]
    assert latest["status"] == "active"
    assert (await client.get("/schemas/mongodb/candle_v1/versions/1")).json()["version"] == 1
    assert (await client.get("/schemas/mongodb/candle_v1/versions")).json()["versions"] == [1]
    everything = (await client.get("/schemas")).json()
    assert [(s["database"], s["name"]) for s in everything["data"]] == [
        ("mongodb", "candle_v1"),
        ("postgres", "order_v1"),
    ]
    assert everything["pagination"]["total"] == 2
    mongo_only = (await client.get("/schemas?database=mongodb")).json()
    assert [s["name"] for s in mongo_only["data"]] == ["candle_v1"]

    one = (await client.post("/schemas/validate", json=VALIDATE_ONE)).json()
    assert one["valid"] is True
    assert one["total"] == 1
    assert one["version"] == 1
    batch = (await client.post("/schemas/validate", json=VALIDATE_BATCH)).json()
    assert batch["valid"] is True
    assert batch["valid_count"] == 2
    assert "elapsed_ms" in batch

    # v2 drops a minimum: BACKWARD compatible, so it registers.
    v2 = relaxed(CANDLE_BODY["schema"], "volume")
    second = await client.post("/schemas/mongodb/candle_v1", json={"schema": v2}, headers=W)
    assert second.status_code == 201
    assert second.json()["version"] == 2
    verdict = (await client.post("/schemas/compatibility", json=COMPAT_BODY)).json()
    assert verdict["is_compatible"] is True
    assert verdict["mode"] == "BACKWARD"


async def test_identical_schema_returns_the_existing_version(gateway: Gateway) -> None:
    client = gateway.client
    await client.post("/schemas/mongodb/candle_v1", json=CANDLE_BODY, headers=W)
    reordered = {"schema": dict(reversed(list(CANDLE_BODY["schema"].items())))}
    again = await client.post("/schemas/mongodb/candle_v1", json=reordered, headers=W)
    assert again.status_code == 200
    assert again.json() | {"created": False} == again.json()
    assert again.json()["version"] == 1
    assert (await client.get("/schemas/mongodb/candle_v1/versions")).json()["versions"] == [1]


async def test_breaking_version_is_409_with_every_change(gateway: Gateway) -> None:
    client = gateway.client
    await client.post("/schemas/postgres/order_v1", json=ORDER_BODY, headers=W)
    breaking = with_field(ORDER_BODY["schema"], "client_id", {"type": "string"}, required=True)
    refused = await client.post("/schemas/mysql/order_v1", json={"schema": breaking}, headers=W)
    assert refused.status_code == 409
    body = refused.json()
    assert body["error"] == "conflict"
    assert body["compatibility"] == "BACKWARD"
    change = body["breaking_changes"][0]
    assert change["version"] == 1
    assert change["path"]
    assert change["message"]
    assert change["hint"]
    # The candidate form with verbose answers the same list, and a mode override.
    candidate = {"database": "postgres", "schema_name": "order_v1", "schema": breaking}
    verdict = (await client.post("/schemas/compatibility?verbose=true", json=candidate)).json()
    assert verdict["is_compatible"] is False
    assert verdict["breaking_changes"] == body["breaking_changes"]
    forward = (
        await client.post("/schemas/compatibility", json={**candidate, "mode": "FORWARD"})
    ).json()
    assert forward == {**forward, "is_compatible": True, "mode": "FORWARD"}
    # Per-schema mode: NONE lets it through.
    config = await client.put(
        "/schemas/config/postgres/order_v1", json={"compatibility": "NONE"}, headers=W
    )
    assert config.json()["compatibility"] == "NONE"
    assert (await client.get("/schemas/config/mysql/order_v1")).json()["is_default"] is False
    accepted = await client.post("/schemas/postgres/order_v1", json={"schema": breaking}, headers=W)
    assert accepted.status_code == 201
    assert accepted.json()["version"] == 2


async def test_transitive_mode_checks_every_earlier_version(gateway: Gateway) -> None:
    client = gateway.client
    base = {"type": "object", "properties": {"a": {"type": "string"}}}
    v2 = {"type": "object", "properties": {"a": {"type": "string", "default": "x"}}}
    v3 = {**v2, "required": ["a"]}
    await client.put(
        "/schemas/config/mongodb/t", json={"compatibility": "BACKWARD_TRANSITIVE"}, headers=W
    )
    for schema in (base, v2):
        assert (
            await client.post("/schemas/mongodb/t", json={"schema": schema}, headers=W)
        ).status_code == 201
    candidate = {"database": "mongodb", "schema_name": "t", "schema": v3}
    plain = (
        await client.post("/schemas/compatibility", json={**candidate, "mode": "BACKWARD"})
    ).json()
    transitive = (await client.post("/schemas/compatibility", json=candidate)).json()
    assert transitive["compared_with"] == [2, 1]
    assert plain["compared_with"] == [2]
    if not transitive["is_compatible"]:
        refused = await client.post("/schemas/mongodb/t", json={"schema": v3}, headers=W)
        assert refused.status_code == 409


async def test_update_deprecate_soft_and_hard_delete(gateway: Gateway) -> None:
    client = gateway.client
    await client.post("/schemas/mongodb/candle_v1", json=CANDLE_BODY, headers=W)
    v2 = relaxed(CANDLE_BODY["schema"], "volume")
    await client.post("/schemas/mongodb/candle_v1", json={"schema": v2}, headers=W)
    updated = await client.put(
        "/schemas/mongodb/candle_v1/versions/2", json={"description": "with n"}, headers=W
    )
    assert updated.json()["description"] == "with n"
    bad = with_field(v2, "n", {"type": "integer"}, required=True)
    assert (
        await client.put("/schemas/mongodb/candle_v1/versions/2", json={"schema": bad}, headers=W)
    ).status_code == 409
    deprecated = await client.post("/schemas/mongodb/candle_v1/versions/2/deprecate", headers=W)
    assert deprecated.json()["status"] == "deprecated"
    assert (await client.get("/schemas/mongodb/candle_v1")).json()["version"] == 1

    assert (
        await client.delete(
            "/schemas/mongodb/candle_v1/versions/1?permanent=true", headers=auth(ADMIN_KEY)
        )
    ).status_code == 409
    assert (
        await client.delete("/schemas/mongodb/candle_v1/versions/1", headers=W)
    ).status_code == 200
    assert (await client.get("/schemas/mongodb/candle_v1/versions/1")).status_code == 404
    hidden = await client.get("/schemas/mongodb/candle_v1/versions/1?include_deleted=true")
    assert hidden.json()["status"] == "deleted"
    assert (
        await client.delete("/schemas/mongodb/candle_v1/versions/1?permanent=true", headers=W)
    ).status_code == 403
    gone = await client.delete(
        "/schemas/mongodb/candle_v1/versions/1?permanent=true", headers=auth(ADMIN_KEY)
    )
    assert gone.status_code == 200
    assert gone.json()["permanent"] is True
    assert (await client.get("/schemas/mongodb/candle_v1/versions?include_deleted=true")).json()[
        "versions"
    ] == [2]
    # Numbers only grow: the next version is 3 even though 1 is gone.
    v3 = relaxed(v2, "open")
    assert (await client.post("/schemas/mongodb/candle_v1", json={"schema": v3}, headers=W)).json()[
        "version"
    ] == 3


async def test_max_versions_refuses_the_next_one(make_gateway_settings: SettingsFactory) -> None:
    async for gateway in start_gateway(
        make_gateway_settings(schema_max_versions=2, schema_compatibility_mode="NONE")
    ):
        client = gateway.client
        for i in range(2):
            schema = {"type": "object", "properties": {f"f{j}": {} for j in range(i + 1)}}
            assert (
                await client.post("/schemas/postgres/s", json={"schema": schema}, headers=W)
            ).status_code == 201
        third = {"type": "object", "properties": {"f0": {}, "f1": {}, "f2": {}}}
        refused = await client.post("/schemas/postgres/s", json={"schema": third}, headers=W)
        assert refused.status_code == 409
        assert "SCHEMA_MAX_VERSIONS=2" in refused.json()["detail"]


async def test_validation_reports_every_error_of_every_record(gateway: Gateway) -> None:
    client = gateway.client
    await client.post("/schemas/mongodb/candle_v1", json=CANDLE_BODY, headers=W)
    records = [
        VALIDATE_ONE["data"],
        {**VALIDATE_ONE["data"], "symbol": "btc", "open": -1},
        {"symbol": "ETHUSDT", "timestamp": "yesterday"},
    ]
    body = {"database": "mongodb", "schema_name": "candle_v1", "data": records}
    report = (await client.post("/schemas/validate", json=body)).json()
    assert report["valid"] is False
    assert report["invalid_indices"] == [1, 2]
    assert report["total"] == 3
    assert report["valid_count"] == 1
    assert report["invalid_count"] == 2
    found = {(e["index"], e["path"], e["keyword"]) for e in report["errors"]}
    assert {
        (1, "$.symbol", "pattern"),
        (1, "$.open", "minimum"),
        (2, "$.timestamp", "format"),
    } <= found
    # every missing field is its own error: open, high, low, close, volume
    assert sum(e["index"] == 2 and e["keyword"] == "required" for e in report["errors"]) == 5


async def test_strict_mode_unknown_schema_and_extra_fields(
    make_gateway_settings: SettingsFactory, gateway: Gateway
) -> None:
    lenient = gateway.client
    unknown = {"database": "mongodb", "schema_name": "nope", "data": {}}
    answer = (await lenient.post("/schemas/validate", json=unknown)).json()
    assert answer["valid"] is True
    assert answer["validated"] is False
    assert answer["warnings"]
    await lenient.post("/schemas/mongodb/candle_v1", json=CANDLE_BODY, headers=W)
    extra = {**VALIDATE_ONE, "data": {**VALIDATE_ONE["data"], "colour": "red"}}
    warned = (await lenient.post("/schemas/validate", json=extra)).json()
    assert warned["valid"] is True
    assert "colour" in warned["warnings"][0]

    async for strict in start_gateway(make_gateway_settings(schema_strict_mode=True)):
        assert (await strict.client.post("/schemas/validate", json=unknown)).status_code == 404
        refused = (await strict.client.post("/schemas/validate", json=extra)).json()
        assert refused["valid"] is False
        assert refused["errors"][0]["keyword"] == "additionalProperties"


async def test_validation_disabled_checks_nothing(make_gateway_settings: SettingsFactory) -> None:
    async for gateway in start_gateway(make_gateway_settings(schema_validation_enabled=False)):
        body = {**VALIDATE_ONE, "data": {"symbol": 1}}
        answer = (await gateway.client.post("/schemas/validate", json=body)).json()
        assert answer["validated"] is False
        assert "SCHEMA_VALIDATION_ENABLED" in answer["warnings"][0]


async def test_bootstrap_defaults_body_and_overwrite(gateway: Gateway) -> None:
    client = gateway.client
    first = (await client.post("/schemas/bootstrap", headers=W)).json()
    assert first["created"] == 8
    names = {(r["database"], r["name"]) for r in first["results"]}
    assert names == {
        ("mongodb", "candle_v1"), ("mongodb", "trade_v1"), ("mongodb", "depth_v1"),
        ("mongodb", "funding_v1"), ("postgres", "order_v1"), ("postgres", "health_metrics_v1"),
        ("postgres", "audit_log_v1"), ("postgres", "strategy_signal_v1"),
    }  # fmt: skip
    again = (await client.post("/schemas/bootstrap", headers=W)).json()
    assert again["unchanged"] == 8
    # The seed's body: candle_v1 exists with another schema -> skipped, unless overwrite.
    seeded = (await client.post("/schemas/bootstrap", json=BOOTSTRAP_BODY, headers=W)).json()
    assert seeded["results"] == [
        {"database": "mongodb", "name": "candle_v1", "version": 1, "action": "skipped"}
    ]
    forced = {**BOOTSTRAP_BODY, "overwrite_existing": True}
    overwritten = (await client.post("/schemas/bootstrap", json=forced, headers=W)).json()
    assert overwritten["overwritten"] == 1
    stored = (await client.get("/schemas/mongodb/candle_v1/versions/1")).json()
    assert stored["schema"] == CANDLE_BODY["schema"]


async def test_seed_bootstrap_body_on_an_empty_registry(gateway: Gateway) -> None:
    answer = await gateway.client.post("/schemas/bootstrap", json=BOOTSTRAP_BODY, headers=W)
    assert answer.json()["results"] == [
        {"database": "mongodb", "name": "candle_v1", "version": 1, "action": "created"}
    ]


async def test_auto_register_bootstraps_at_start(make_gateway_settings: SettingsFactory) -> None:
    async for gateway in start_gateway(make_gateway_settings(schema_auto_register=True)):
        for _ in range(100):
            listed = (await gateway.client.get("/schemas")).json()
            if listed["pagination"]["total"] == 8:
                break
            import asyncio

            await asyncio.sleep(0.1)
        assert listed["pagination"]["total"] == 8


async def test_search_and_pagination(gateway: Gateway) -> None:
    client = gateway.client
    await client.post("/schemas/bootstrap", headers=W)
    found = (await client.get("/schemas/search", params={"query": "CANDLE"})).json()
    assert [s["name"] for s in found["data"]] == ["candle_v1"]
    by_words = (await client.get("/schemas/search", params={"query": "auditor"})).json()
    assert {s["name"] for s in by_words["data"]} == {"health_metrics_v1", "audit_log_v1"}
    page = (await client.get("/schemas", params={"limit": 3, "offset": 3})).json()
    assert len(page["data"]) == 3
    assert page["pagination"]["has_next"] is True
    assert page["data"][0]["name"] == "funding_v1" or page["data"][0]["database"] == "mongodb"


async def test_cache_stats_invalidation_and_clear(gateway: Gateway) -> None:
    client = gateway.client
    await client.post("/schemas/mongodb/candle_v1", json=CANDLE_BODY, headers=W)
    for _ in range(3):
        await client.post("/schemas/validate", json=VALIDATE_ONE)
    stats = (await client.get("/schemas/cache/stats")).json()
    assert stats["hits"] >= 2
    assert stats["misses"] >= 1
    assert stats["size"] == 1
    v2 = relaxed(CANDLE_BODY["schema"], "volume")
    await client.post("/schemas/mongodb/candle_v1", json={"schema": v2}, headers=W)
    after = (await client.get("/schemas/cache/stats")).json()
    assert after["size"] == 0
    assert after["evictions"] >= 1
    assert (await client.post("/schemas/validate", json=VALIDATE_ONE)).json()["version"] == 2
    assert (await client.post("/schemas/cache/clear")).status_code == 401
    cleared = (await client.post("/schemas/cache/clear", headers=W)).json()
    assert cleared == {"cleared": 1}


async def test_invalidation_reaches_another_gateway(make_gateway_settings: SettingsFactory) -> None:
    import asyncio

    settings = make_gateway_settings()
    async for one in start_gateway(settings):
        async for two in start_gateway(settings):
            for gateway in (one, two):
                for _ in range(100):
                    if gateway.resources.nats is not None:
                        break
                    await asyncio.sleep(0.05)
            await one.client.post("/schemas/mongodb/candle_v1", json=CANDLE_BODY, headers=W)
            assert (await two.client.post("/schemas/validate", json=VALIDATE_ONE)).json()[
                "version"
            ] == 1
            v2 = relaxed(CANDLE_BODY["schema"], "volume")
            await one.client.post("/schemas/mongodb/candle_v1", json={"schema": v2}, headers=W)
            for _ in range(100):
                if (await two.client.get("/schemas/cache/stats")).json()["size"] == 0:
                    break
                await asyncio.sleep(0.05)
            assert (await two.client.post("/schemas/validate", json=VALIDATE_ONE)).json()[
                "version"
            ] == 2


async def test_scopes_and_refusals(gateway: Gateway) -> None:
    client = gateway.client
    assert (await client.post("/schemas/mongodb/x", json=CANDLE_BODY)).status_code == 401
    assert (
        await client.post("/schemas/mongodb/x", json=CANDLE_BODY, headers=auth(READ_KEY))
    ).status_code == 403
    assert (await client.get("/schemas/oracle/x")).status_code == 422
    unusable = await client.post("/schemas/mongodb/x", json={"schema": {"type": "nope"}}, headers=W)
    assert unusable.status_code == 400
    assert unusable.json()["error"] == "bad_request"
    assert unusable.json()["reasons"]
    missing = await client.get("/schemas/mongodb/unknown")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    assert (
        await client.put(
            "/schemas/config/mongodb/x", json={"compatibility": "SOMETIMES"}, headers=W
        )
    ).status_code == 422

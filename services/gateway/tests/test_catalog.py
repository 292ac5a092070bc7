"""/catalog/* against real PostgreSQL and a MongoDB-wire server, fed by the writers' own
catalog functions (the ingestor's, the backfiller's and analytics')."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from petrosa_common.analytics import ANALYTICS_LATEST_COLLECTION
from petrosa_common.catalog import (
    record_lineage,
    register_datasets,
    register_derived_dataset,
    set_dataset_schema,
)
from petrosa_common.naming import SCHEMAS_COLLECTION

from .conftest import Gateway

pytestmark = pytest.mark.integration

WS = "nats:binance.futures.websocket.data"
REST = "binance-rest:/fapi/v1/klines"


async def seed(gateway: Gateway) -> None:
    pool = gateway.resources.pg
    await register_datasets(
        pool, ["candles_BTCUSDT_1h", "candles_ETHUSDT_1h", "trades_BTCUSDT"], source="websocket"
    )
    await register_datasets(pool, ["candles_BTCUSDT_1h"], source="backfill")
    for dataset in ("candles_BTCUSDT_1h", "candles_ETHUSDT_1h", "trades_BTCUSDT"):
        await record_lineage(pool, source=WS, process="ingestor", target=dataset)
    await record_lineage(
        pool,
        source=REST,
        process="backfiller job 7",
        target="candles_BTCUSDT_1h",
        details={"job_id": 7, "symbol": "BTCUSDT"},
    )
    await register_derived_dataset(
        pool,
        dataset_id="analytics_volatility",
        kind="analytics",
        collection=ANALYTICS_LATEST_COLLECTION,
        update_frequency_seconds=900,
        tags=["source:analytics"],
    )
    for source in ("candles_BTCUSDT_1h", "candles_ETHUSDT_1h"):
        await record_lineage(
            pool, source=source, process="analytics", target="analytics_volatility"
        )
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE datasets SET health_level = 'healthy', record_count = 10 WHERE id = %s",
            ("candles_BTCUSDT_1h",),
        )
        await conn.execute(
            "UPDATE datasets SET health_level = 'degraded', record_count = 3 WHERE id = %s",
            ("candles_ETHUSDT_1h",),
        )


async def test_list_filters_sorts_and_paginates(gateway: Gateway) -> None:
    await seed(gateway)
    client = gateway.client
    everything = (await client.get("/catalog/datasets")).json()
    assert [d["id"] for d in everything["data"]] == [
        "analytics_volatility",
        "candles_BTCUSDT_1h",
        "candles_ETHUSDT_1h",
        "trades_BTCUSDT",
    ]
    assert everything["pagination"]["total"] == 4
    btc = everything["data"][1]
    assert btc["tags"] == ["kind:candles", "source:backfill", "source:websocket"]
    assert btc["update_frequency_seconds"] == 3600
    assert everything["data"][3]["update_frequency_seconds"] is None

    candles = (await client.get("/catalog/datasets", params={"kind": "candles"})).json()
    assert [d["id"] for d in candles["data"]] == ["candles_BTCUSDT_1h", "candles_ETHUSDT_1h"]
    btc_only = (await client.get("/catalog/datasets", params={"symbol": "btcusdt"})).json()
    assert [d["id"] for d in btc_only["data"]] == ["candles_BTCUSDT_1h", "trades_BTCUSDT"]
    hourly = (await client.get("/catalog/datasets", params={"timeframe": "1h"})).json()
    assert hourly["pagination"]["total"] == 2
    degraded = (await client.get("/catalog/datasets", params={"health_level": "degraded"})).json()
    assert [d["id"] for d in degraded["data"]] == ["candles_ETHUSDT_1h"]
    by_tag = (await client.get("/catalog/datasets", params={"search": "BACKFILL"})).json()
    assert [d["id"] for d in by_tag["data"]] == ["candles_BTCUSDT_1h"]
    literal = (await client.get("/catalog/datasets", params={"search": "s_B"})).json()
    assert [d["id"] for d in literal["data"]] == ["candles_BTCUSDT_1h", "trades_BTCUSDT"]

    by_count = (
        await client.get("/catalog/datasets", params={"sort": "record_count", "sort_order": "desc"})
    ).json()
    assert [d["id"] for d in by_count["data"]][:2] == ["candles_BTCUSDT_1h", "candles_ETHUSDT_1h"]
    page = (await client.get("/catalog/datasets", params={"limit": 2, "offset": 2})).json()
    assert [d["id"] for d in page["data"]] == ["candles_ETHUSDT_1h", "trades_BTCUSDT"]
    assert page["pagination"] == {
        "total": 4,
        "limit": 2,
        "offset": 2,
        "page": 2,
        "pages": 2,
        "has_next": False,
        "has_previous": True,
    }


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"offset": -1},
        {"timeframe": "7m"},
        {"symbol": "B"},
        {"health_level": "fine"},
        {"sort": "collection; DROP TABLE datasets"},
        {"search": "a\x00b"},
    ],
)
async def test_bad_parameters_are_422(gateway: Gateway, params: dict[str, object]) -> None:
    response = await gateway.client.get("/catalog/datasets", params=params)
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_parameter"


async def test_one_dataset_and_404s(gateway: Gateway) -> None:
    await seed(gateway)
    found = await gateway.client.get("/catalog/datasets/candles_ETHUSDT_1h")
    assert found.status_code == 200
    assert found.json()["health_level"] == "degraded"
    assert found.json()["symbol"] == "ETHUSDT"
    for path in ("datasets", "schemas", "lineage"):
        missing = await gateway.client.get(f"/catalog/{path}/candles_XRPUSDT_1h")
        assert missing.status_code == 404, path
        assert missing.json() == {
            "error": "not_found",
            "detail": "unknown dataset 'candles_XRPUSDT_1h'",
        }


async def test_schema_is_inferred_from_the_newest_documents(gateway: Gateway) -> None:
    await seed(gateway)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    docs = [
        {
            "_id": f"BTCUSDT_{i}",
            "symbol": "BTCUSDT",
            "timestamp": start + timedelta(hours=i),
            "close": 1.5 * i,
            "trades_count": i,
            **({"quote_volume": None} if i % 2 else {}),
        }
        for i in range(150)
    ]
    await gateway.resources.db["candles_BTCUSDT_1h"].insert_many(docs)
    body = (await gateway.client.get("/catalog/schemas/candles_BTCUSDT_1h")).json()
    assert body["inferred"] is True
    assert body["schema"] is None
    assert body["sample_size"] == 100
    fields = {f["name"]: f for f in body["fields"]}
    assert fields["timestamp"] == {"name": "timestamp", "types": ["date-time"], "presence": 1.0}
    assert fields["close"]["types"] == ["number"]
    assert fields["trades_count"]["types"] == ["integer"]
    assert fields["quote_volume"] == {"name": "quote_volume", "types": ["null"], "presence": 0.5}
    empty = (await gateway.client.get("/catalog/schemas/trades_BTCUSDT")).json()
    assert empty["inferred"] is True
    assert empty["fields"] == []
    assert empty["sample_size"] == 0


async def test_registered_schema_wins_over_inference(gateway: Gateway) -> None:
    await seed(gateway)
    schema = {"type": "object", "required": ["symbol"]}
    await gateway.resources.db[SCHEMAS_COLLECTION].insert_many(
        [
            {
                "name": "candle",
                "version": 1,
                "status": "deprecated",
                "schema": {},
                "database": "mongodb",
            },
            {
                "name": "candle",
                "version": 2,
                "status": "active",
                "schema": schema,
                "database": "mongodb",
            },
        ]
    )
    assert await set_dataset_schema(
        gateway.resources.pg, "candles_ETHUSDT_1h", name="candle", version=2
    )
    assert not await set_dataset_schema(gateway.resources.pg, "nope", name="candle", version=2)
    body = (await gateway.client.get("/catalog/schemas/candles_ETHUSDT_1h")).json()
    assert body["inferred"] is False
    assert (body["name"], body["version"], body["status"]) == ("candle", 2, "active")
    assert body["schema"] == schema
    row = (await gateway.client.get("/catalog/datasets/candles_ETHUSDT_1h")).json()
    assert (row["schema_name"], row["schema_version"]) == ("candle", 2)


async def test_lineage_follows_ingestor_backfill_and_analytics(gateway: Gateway) -> None:
    await seed(gateway)
    client = gateway.client
    one = (await client.get("/catalog/lineage/candles_BTCUSDT_1h")).json()
    assert one["upstream"] == [
        {"id": REST, "depth": 1, "type": "external"},
        {"id": WS, "depth": 1, "type": "external"},
    ]
    assert one["downstream"] == [{"id": "analytics_volatility", "depth": 1, "type": "dataset"}]
    edges = {(e["source"], e["process"], e["target"]): e for e in one["edges"]}
    backfill = edges[(REST, "backfiller job 7", "candles_BTCUSDT_1h")]
    assert backfill["details"] == {"job_id": 7, "symbol": "BTCUSDT"}
    assert backfill["first_seen"] <= backfill["last_seen"]
    assert (WS, "ingestor", "candles_BTCUSDT_1h") in edges

    shallow = (await client.get("/catalog/lineage/analytics_volatility")).json()
    assert [n["id"] for n in shallow["upstream"]] == ["candles_BTCUSDT_1h", "candles_ETHUSDT_1h"]
    deep = (await client.get("/catalog/lineage/analytics_volatility", params={"depth": 2})).json()
    assert [(n["id"], n["depth"]) for n in deep["upstream"]] == [
        ("candles_BTCUSDT_1h", 1),
        ("candles_ETHUSDT_1h", 1),
        (REST, 2),
        (WS, 2),
    ]
    assert deep["downstream"] == []
    assert len(deep["edges"]) == 5  # two into analytics, three into the candles
    for bad in (0, 6):
        response = await client.get("/catalog/lineage/analytics_volatility", params={"depth": bad})
        assert response.status_code == 422

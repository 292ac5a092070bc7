"""/backfill/* against a real PostgreSQL job table."""

from __future__ import annotations

import pytest

from .conftest import READ_KEY, WRITE_KEY, Gateway, auth

pytestmark = pytest.mark.integration
W = auth(WRITE_KEY)
BODY = {
    "symbol": "BTCUSDT",
    "data_type": "candles",
    "timeframe": "1m",
    "start": "2024-01-01T00:00:00Z",
    "end": "2024-01-31T00:00:00Z",
    "priority": 3,
}


async def test_start_list_get_cancel(gateway: Gateway) -> None:
    started = await gateway.client.post("/backfill/start", json=BODY, headers=W)
    assert started.status_code == 202, started.text
    job = started.json()["job"]
    assert started.json()["created"] is True
    assert (job["status"], job["chunks_total"], job["requested_by"]) == ("pending", 29, "api")
    again = await gateway.client.post(
        "/backfill/start", json={**BODY, "start": "2024-01-10T00:00:00Z"}, headers=W
    )
    assert again.json() == {"job": again.json()["job"], "created": False}
    assert again.json()["job"]["id"] == job["id"]

    listed = (
        await gateway.client.get("/backfill/jobs", params={"status": "pending"}, headers=W)
    ).json()
    assert [j["id"] for j in listed["data"]] == [job["id"]]
    assert listed["pagination"]["total"] == 1
    one = await gateway.client.get(f"/backfill/jobs/{job['id']}", headers=W)
    assert one.json()["symbol"] == "BTCUSDT"
    cancelled = await gateway.client.post(f"/backfill/jobs/{job['id']}/cancel", headers=W)
    assert cancelled.json()["status"] == "cancelled"
    assert (await gateway.client.get("/backfill/jobs/999999", headers=W)).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {**BODY, "symbol": "BTC-USDT"},
        {**BODY, "timeframe": "7m"},
        {**BODY, "end": "2023-12-01T00:00:00Z"},
        {**BODY, "data_type": "orders"},
        {k: v for k, v in BODY.items() if k != "start"},
    ],
)
async def test_bad_requests_are_422(gateway: Gateway, body: dict[str, object]) -> None:
    response = await gateway.client.post("/backfill/start", json=body, headers=W)
    assert response.status_code == 422


async def test_backfill_needs_the_write_scope(gateway: Gateway) -> None:
    assert (await gateway.client.get("/backfill/jobs")).status_code == 401
    assert (await gateway.client.get("/backfill/jobs", headers=auth(READ_KEY))).status_code == 403

"""The workers' health app: liveness fails as soon as the service names a failure."""

from __future__ import annotations

import httpx
from petrosa_common.health import health_app


def _client(app: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://health")  # type: ignore[arg-type]


async def test_liveness_turns_503_once_a_failure_is_named() -> None:
    failures: list[str] = []
    async with _client(health_app("svc", {}, lambda: failures[0] if failures else None)) as client:
        assert (await client.get("/health/liveness")).json() == {"status": "ok", "service": "svc"}
        failures.append("RuntimeError: worker died")
        response = await client.get("/health/liveness")
    assert response.status_code == 503
    assert response.json() == {
        "status": "failed",
        "service": "svc",
        "error": "RuntimeError: worker died",
    }


async def test_liveness_without_a_failure_source_is_always_ok() -> None:
    async with _client(health_app("svc", {})) as client:
        assert (await client.get("/health/liveness")).status_code == 200

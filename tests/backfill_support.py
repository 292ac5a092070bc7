"""Support for backfill end-to-end tests: the fake Binance and the backfiller as processes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import httpx
from petrosa_devtools.infra import InfraUrls
from petrosa_devtools.processes import ServiceProcess, free_port


def fake_binance_process(log: Path, *args: str) -> tuple[ServiceProcess, str]:
    """``petrosa-sim binance`` on a free port (started and answering) and its base URL."""
    port = free_port()
    fake = ServiceProcess(
        [sys.executable, "-m", "petrosa_sim", "binance", "--port", str(port), *args], {}, log
    )
    base_url = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        try:
            return httpx.get(f"{base_url}/fapi/v1/ping", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    fake.start()
    fake.wait_until(answering, timeout=30)
    return fake, base_url


def http_get(base_url: str, path: str) -> Any:
    """GET ``path`` (e.g. the fake's ``/_fake/requests``): JSON decoded, else the text."""
    response = httpx.get(f"{base_url}{path}", timeout=10)
    response.raise_for_status()
    if response.headers.get("content-type", "").startswith("application/json"):
        return response.json()
    return response.text


def backfiller_process(
    infra: InfraUrls, *, database: str, postgres_url: str, binance_url: str, log: Path, **extra: str
) -> ServiceProcess:
    """A backfiller bound to this test's databases and the fake Binance."""
    env = {
        "NATS_URL": infra.nats_url,
        "MONGODB_URL": infra.mongodb_url,
        "MONGODB_DATABASE": database,
        "POSTGRES_URL": postgres_url,
        "BINANCE_FAPI_BASE_URL": binance_url,
        "HEALTH_PORT": str(free_port()),
        "METRICS_PORT": str(free_port()),
        "BACKFILL_POLL_SECONDS": "0.2",
        "LOG_LEVEL": "INFO",
        **extra,
    }
    return ServiceProcess.python_module("petrosa_backfiller", env, log)

"""Gateway fixtures: the app with its real lifespan on this test's databases, and an HTTP client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from petrosa_devtools.infra import InfraUrls
from petrosa_gateway.app import create_app
from petrosa_gateway.resources import Resources
from petrosa_gateway.settings import GatewaySettings

READ_KEY, WRITE_KEY, ADMIN_KEY = "reader-key-0123456789", "writer-key-0123456789", "admin-key-0123"
SettingsFactory = Callable[..., GatewaySettings]


@pytest.fixture
def make_gateway_settings(
    infra_urls: InfraUrls, mongo_db_name: str, postgres_url: str
) -> SettingsFactory:
    """Gateway settings on this test's databases with three keys; overrides by keyword."""

    def make(**overrides: Any) -> GatewaySettings:
        values: dict[str, Any] = {
            "nats_url": infra_urls.nats_url,
            "mongodb_url": infra_urls.mongodb_url,
            "mongodb_database": mongo_db_name,
            "postgres_url": postgres_url,
            "metrics_port": 0,
            "api_keys": {READ_KEY: ["read"], WRITE_KEY: ["write"], ADMIN_KEY: ["admin"]},
            **overrides,
        }
        return GatewaySettings(**values)

    return make


class Gateway:
    """A running app (lifespan entered) and a client bound to it."""

    def __init__(self, client: httpx.AsyncClient, resources: Resources) -> None:
        self.client = client
        self.resources = resources


async def start_gateway(settings: GatewaySettings) -> AsyncIterator[Gateway]:
    """Run the app's lifespan, wait for the migrations, yield a client."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        resources: Resources = app.state.resources
        await asyncio.wait_for(resources.postgres_ready.wait(), 20)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield Gateway(client, resources)


@pytest.fixture
async def gateway(make_gateway_settings: SettingsFactory) -> AsyncIterator[Gateway]:
    """The gateway with API keys required for writes (secure defaults)."""
    async for running in start_gateway(make_gateway_settings()):
        yield running


def auth(key: str) -> dict[str, str]:
    """Headers presenting ``key``."""
    return {"X-API-Key": key}

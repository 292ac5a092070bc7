"""A gateway for one test module on databases of its own, dropped afterwards."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from petrosa_devtools.infra import InfraUrls
from petrosa_devtools.pytest_plugin import unique_name
from petrosa_gateway.settings import GatewaySettings
from pymongo import AsyncMongoClient

from .conftest import Gateway, start_gateway


@dataclass
class FreshGateway:
    """The running gateway, and the name of its MongoDB and PostgreSQL databases."""

    gateway: Gateway
    name: str
    postgres_url: str


@contextlib.asynccontextmanager
async def fresh_gateway(
    infra_urls: InfraUrls, *, prefix: str, api_keys: dict[str, list[str]], postgres_query: str = ""
) -> AsyncIterator[FreshGateway]:
    """A gateway (NATS queries off) on new databases; ``postgres_query`` is added to the
    PostgreSQL URL (connection options)."""
    name = unique_name(prefix)
    parts = urlsplit(infra_urls.postgres_url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    postgres_url = urlunsplit(parts._replace(path=f"/{name}", query=postgres_query))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    settings = GatewaySettings(
        nats_url=infra_urls.nats_url, mongodb_url=infra_urls.mongodb_url, mongodb_database=name,
        postgres_url=postgres_url, metrics_port=0, nats_query_enabled=False, api_keys=api_keys,
    )  # fmt: skip
    try:
        async for running in start_gateway(settings):
            yield FreshGateway(running, name, postgres_url)
    finally:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(infra_urls.mongodb_url)
        await client.drop_database(name)
        await client.close()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

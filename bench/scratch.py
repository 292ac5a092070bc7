"""Throw-away databases for a benchmark run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from petrosa_devtools import infra
from pymongo import AsyncMongoClient


@dataclass(frozen=True, slots=True)
class Scratch:
    """A fresh PostgreSQL database and a MongoDB database of the same ``name``."""

    name: str
    postgres_url: str
    mongo: AsyncMongoClient[dict[str, Any]]


@asynccontextmanager
async def scratch_databases(urls: infra.InfraUrls, name: str) -> AsyncIterator[Scratch]:
    """Create both databases; drop them (and close the client) afterwards, whatever happens."""
    parts = urlsplit(urls.postgres_url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(urls.mongodb_url, tz_aware=True)
    try:
        yield Scratch(name, urlunsplit(parts._replace(path=f"/{name}")), mongo)
    finally:
        await mongo.drop_database(name)
        await mongo.close()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

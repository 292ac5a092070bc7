"""Pytest fixtures on real servers: NATS, PostgreSQL and a MongoDB-wire server.

Fixtures use ``NATS_URL`` / ``MONGODB_URL`` / ``POSTGRES_URL`` when they answer, then
``.run/infra.env``, and otherwise start the local servers (``petrosa_devtools.infra.up``).
Each test gets its own MongoDB database, PostgreSQL database and NATS subject prefix, so
tests never see each other's data. The ``data_manager.*`` subjects are fixed, though: a test of
them takes ``own_nats_infra``, a NATS server of its own, so that a `make dev` stack or another
test session on the shared server neither answers its requests nor publishes into them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from petrosa_common.postgres import PgPool, apply_migrations, create_pg_pool
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from petrosa_devtools import infra
from petrosa_devtools.processes import ServiceProcess, free_port

Document = dict[str, object]


def _answering(urls: infra.InfraUrls) -> bool:
    return (
        infra.nats_answers(urls.nats_url)
        and infra.mongo_answers(urls.mongodb_url)
        and infra.postgres_answers(urls.postgres_url)
    )


@pytest.fixture(scope="session")
def infra_urls() -> infra.InfraUrls:
    """Where NATS, MongoDB and PostgreSQL answer (starting local servers if needed)."""
    if all(key in os.environ for key in ("NATS_URL", "MONGODB_URL", "POSTGRES_URL")):
        urls = infra.configured_urls()
        if _answering(urls):
            return urls
    from_file = infra.read_env()
    if from_file is not None and _answering(from_file):
        return from_file
    try:
        return infra.up(echo=False)
    except infra.InfraError as exc:
        pytest.fail(
            f"test infrastructure is not available ({exc}).\n"
            "Start it with `make infra-up`, or point NATS_URL, MONGODB_URL and POSTGRES_URL "
            "at running servers.",
            pytrace=False,
        )


def unique_name(prefix: str = "t") -> str:
    """A short unique name usable as a database, stream or subject token."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def mongo_db_name(mongo_client: AsyncMongoClient[Document]) -> AsyncIterator[str]:
    """A fresh MongoDB database name for this test; whatever the test (or a service it
    started) stored under it is dropped afterwards."""
    name = unique_name("t")
    yield name
    await mongo_client.drop_database(name)


@pytest.fixture
async def mongo_client(infra_urls: infra.InfraUrls) -> AsyncIterator[AsyncMongoClient[Document]]:
    """A client of the test MongoDB-wire server (tz-aware)."""
    client: AsyncMongoClient[Document] = AsyncMongoClient(infra_urls.mongodb_url, tz_aware=True)
    yield client
    await client.close()


@pytest.fixture
def mongo_db(
    mongo_client: AsyncMongoClient[Document], mongo_db_name: str
) -> AsyncDatabase[Document]:
    """This test's own MongoDB database (dropped afterwards, with its name)."""
    return mongo_client[mongo_db_name]


@pytest.fixture
def postgres_url(infra_urls: infra.InfraUrls) -> Iterator[str]:
    """A fresh PostgreSQL database for this test (its URL), dropped afterwards."""
    name = unique_name("t")
    parts = urlsplit(infra_urls.postgres_url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield urlunsplit(parts._replace(path=f"/{name}"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def pg_pool(postgres_url: str) -> AsyncIterator[PgPool]:
    """A pool on this test's PostgreSQL database, with every migration applied."""
    pool = await create_pg_pool(postgres_url)
    try:
        await apply_migrations(pool)
        yield pool
    finally:
        await pool.close()


@pytest.fixture
def nats_url(infra_urls: infra.InfraUrls) -> str:
    """The test NATS server."""
    return infra_urls.nats_url


@pytest.fixture
def subject_prefix() -> str:
    """A unique subject prefix (and stream-name seed) for this test."""
    return unique_name("t")


@pytest.fixture
def own_nats_infra(infra_urls: infra.InfraUrls, tmp_path: Path) -> Iterator[infra.InfraUrls]:
    """``infra_urls`` with a NATS server (JetStream on) of this test's own, stopped afterwards.

    For tests of the fixed ``data_manager.*`` subjects: on the shared server, the backfillers of
    a running `make dev` answer in the same queue group and its auditor publishes backfill
    requests and gap events, so such a test would lose requests to them or see theirs."""
    port = free_port()
    url = f"nats://127.0.0.1:{port}"
    store = tmp_path / "own-nats"
    server = ServiceProcess(
        [infra.nats_server_binary(), "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(store)],
        {},
        tmp_path / "own-nats.log",
    ).start()
    try:
        server.wait_until(lambda: infra.nats_answers(url), timeout=30)
        yield infra.InfraUrls(url, infra_urls.mongodb_url, infra_urls.postgres_url)
    finally:
        server.stop()

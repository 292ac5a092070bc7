"""The real-server fixtures leave nothing behind on the shared servers."""

from __future__ import annotations

import pytest
from petrosa_devtools.infra import InfraUrls
from pymongo import AsyncMongoClient

INNER_TEST = """
import pathlib

from pymongo import MongoClient


def test_a_service_stores_under_the_name(infra_urls, mongo_db_name):
    # What a service started by a test does: its own client, the database by name only.
    with MongoClient(infra_urls.mongodb_url) as client:
        client[mongo_db_name]["kept"].insert_one({"_id": 1})
    pathlib.Path("db_name").write_text(mongo_db_name)
    assert False, "teardown must run after a failure too"
"""


async def test_mongo_db_name_drops_what_was_stored_under_it(
    pytester: pytest.Pytester, infra_urls: InfraUrls, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_inner=INNER_TEST)
    monkeypatch.setenv("NATS_URL", infra_urls.nats_url)
    monkeypatch.setenv("MONGODB_URL", infra_urls.mongodb_url)
    monkeypatch.setenv("POSTGRES_URL", infra_urls.postgres_url)
    result = pytester.runpytest_subprocess(
        "-p",
        "petrosa_devtools.pytest_plugin",
        "-o",
        "asyncio_mode=auto",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
    )
    result.assert_outcomes(failed=1)
    name = (pytester.path / "db_name").read_text()
    assert name.startswith("t_")
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(infra_urls.mongodb_url)
    try:
        # (not list_database_names: FerretDB sizes every database it holds to answer it)
        assert await client[name].list_collection_names() == []
    finally:
        await client.close()

"""The gateway's pages read one page, not a collection: asserted on the commands the app sends
(pymongo command monitoring on real FerretDB), not on timings.

On MongoDB (``timestamp_1`` on every series, ``_id`` the natural key) a page is an index
range walked for ``offset + limit`` entries, and a total is a metadata count or an
index-only count of the requested range. A change that reads a whole collection for a page
(an unfiltered ``count_documents``, a ``find`` without a limit, a sort no index serves)
fails here.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
from petrosa_common.catalog import register_datasets
from petrosa_devtools.infra import InfraUrls
from petrosa_devtools.mongo_reads import Read, ReadLog, one_metadata_count, recording_database

from .conftest import READ_KEY, Gateway, auth
from .test_data import minute, store_candles, store_stream

pytestmark = pytest.mark.integration

SERIES = [
    ("/data/candles", {"pair": "BTCUSDT", "period": "1m"}, "candles_BTCUSDT_1m"),
    ("/data/trades", {"pair": "ETHUSDT"}, "trades_ETHUSDT"),
    ("/data/depth", {"pair": "ETHUSDT"}, "depth_ETHUSDT"),
    ("/data/funding", {"pair": "ETHUSDT"}, "funding_rates_ETHUSDT"),
    ("/data/mark-prices", {"pair": "ETHUSDT"}, "mark_prices_ETHUSDT"),
    ("/data/tickers", {"pair": "ETHUSDT"}, "tickers_ETHUSDT"),
]
PAGES: list[dict[str, Any]] = [
    {},
    {"limit": 7, "offset": 5},
    {"start": minute(10)},
    {"start": minute(10), "end": minute(40), "sort_order": "desc"},
    {"end": minute(40), "limit": 1000},
]


@pytest.fixture
async def recorded(gateway: Gateway, infra_urls: InfraUrls) -> AsyncIterator[ReadLog]:
    """The gateway with stored series, answering through a client whose reads are recorded."""
    await store_candles(gateway.resources.db)
    await store_stream(gateway.resources.db)
    name = gateway.resources.db.name
    async with recording_database(infra_urls.mongodb_url, name) as (db, reads):
        gateway.resources.db = db
        yield reads


def one(reads: list[Read], command: str) -> Read:
    found = [read for read in reads if read.command == command]
    assert len(found) == 1, reads
    return found[0]


async def test_a_data_page_reads_one_page_on_the_timestamp_index(
    gateway: Gateway, recorded: ReadLog
) -> None:
    for (path, series_params, collection), page in itertools.product(SERIES, PAGES):
        recorded.clear()
        response = await gateway.client.get(
            path, params={**series_params, **page}, headers=auth(READ_KEY)
        )
        assert response.status_code == 200, (path, page, response.text)
        reads = recorded.of(collection)
        found = one(reads, "find")
        assert found.unbounded() is None, found.unbounded()
        assert found.sort == ("timestamp",)
        assert found.limit == page.get("limit", 100)
        assert found.skip == page.get("offset", 0)
        counted = [read for read in reads if read is not found]
        if "start" in page or "end" in page:
            # An index-only count of exactly the requested range.
            (total,) = counted
            assert total.command == "aggregate"
            assert total.filter == found.filter
        else:
            # The collection's metadata count, never an aggregation over every document.
            assert one_metadata_count(counted), (path, page, counted)


async def test_a_crud_page_reads_one_page_and_counts_from_metadata(
    gateway: Gateway, recorded: ReadLog
) -> None:
    stored = await gateway.resources.db["trades_ETHUSDT"].count_documents({})
    recorded.clear()
    response = await gateway.client.get(
        "/api/v1/mongodb/trades_ETHUSDT", params={"limit": 20}, headers=auth(READ_KEY)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["data"]) == 20
    assert body["pagination"]["total"] == stored
    reads = recorded.of("trades_")
    found = one(reads, "find")
    assert (found.sort, found.limit) == (("_id",), 20)
    assert found.unbounded() is None
    counted = [read for read in reads if read is not found]
    assert one_metadata_count(counted), counted

    # With a filter: the matches are counted (the client's query), the page stays a page.
    recorded.clear()
    since = {"timestamp": {"$gte": minute(0)}}
    response = await gateway.client.post(
        "/api/v1/data/query",
        json={"database": "mongodb", "collection": "trades_ETHUSDT", "filter": since, "limit": 5},
        headers=auth(READ_KEY),
    )
    assert response.status_code == 200, response.text
    assert response.json()["pagination"]["total"] == stored
    reads = recorded.of("trades_")
    assert [read.command for read in reads] == ["aggregate", "find"]
    assert one(reads, "find").limit == 5


async def test_a_schema_sample_reads_the_newest_documents_only(
    gateway: Gateway, recorded: ReadLog
) -> None:
    await register_datasets(gateway.resources.pg, ["trades_ETHUSDT"], source="websocket")
    response = await gateway.client.get("/catalog/schemas/trades_ETHUSDT", headers=auth(READ_KEY))
    assert response.status_code == 200, response.text
    assert response.json()["sample_size"] == 100
    (sample,) = recorded.of("trades_")
    assert sample.unbounded() is None
    assert (sample.command, sample.sort, sample.limit) == ("find", ("timestamp",), 100)

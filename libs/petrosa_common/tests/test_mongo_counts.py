"""``estimated_count``: a collection's size from its metadata, without reading a document."""

from __future__ import annotations

from petrosa_common.mongo import Document, estimated_count
from petrosa_devtools.infra import InfraUrls
from petrosa_devtools.mongo_reads import recording_database
from pymongo.asynchronous.database import AsyncDatabase


async def test_a_collection_that_does_not_exist_counts_zero(
    mongo_db: AsyncDatabase[Document],
) -> None:
    assert await estimated_count(mongo_db["trades_NOTHING"]) == 0


async def test_the_count_comes_from_the_collections_statistics(
    mongo_db: AsyncDatabase[Document], infra_urls: InfraUrls
) -> None:
    await mongo_db["trades_BTCUSDT"].insert_many([{"_id": n, "price": 1.0} for n in range(120)])
    async with recording_database(infra_urls.mongodb_url, mongo_db.name) as (db, reads):
        # Before the server has statistics (FerretDB: before the table's first ANALYZE) the
        # `count` command answers; either way the count is the collection's.
        assert await estimated_count(db["trades_BTCUSDT"]) == 120
        assert all(read.metadata_count for read in reads.all), reads.all

        # `collStats` refreshes them (FerretDB runs ANALYZE; MongoDB keeps them current).
        await db.command("collStats", "trades_BTCUSDT")
        reads.clear()
        assert await estimated_count(db["trades_BTCUSDT"], max_time_ms=5_000) == 120
    # Then the `$collStats` stage alone answers: no `count`, no document read.
    assert [(read.command, read.metadata_count) for read in reads.all] == [("aggregate", True)]
    assert reads.all[0].raw["maxTimeMS"] == 5_000

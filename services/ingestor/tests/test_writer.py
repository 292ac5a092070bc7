"""MongoWriter against a real MongoDB-wire server: idempotence, ordering, poison isolation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from petrosa_common.documents import WriteOp, event_writes
from petrosa_common.events import Kline, Trade
from petrosa_common.series_writer import UPDATES_WITHOUT_READ
from petrosa_devtools.infra import InfraUrls
from petrosa_devtools.mongo_reads import recording_database
from petrosa_ingestor.writer import MongoWriter
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.monitoring import (
    CommandFailedEvent,
    CommandListener,
    CommandStartedEvent,
    CommandSucceededEvent,
)

pytestmark = pytest.mark.integration
NOW = datetime(2024, 1, 1, tzinfo=UTC)
Document = dict[str, object]


def kline_op(event_ms: int, closed: bool, close: float, minute: int = 0) -> WriteOp:
    open_time = NOW + timedelta(minutes=minute)
    event = Kline(
        symbol="BTCUSDT",
        interval="1m",
        open_time=open_time,
        close_time=open_time,
        open=1,
        high=9,
        low=0.5,
        close=close,
        volume=1,
        quote_volume=1,
        trades_count=1,
        taker_buy_base_volume=0,
        taker_buy_quote_volume=0,
        is_closed=closed,
        event_time_ms=event_ms,
        open_time_ms=1_704_067_200_000 + 60_000 * minute,
    )
    return event_writes(event)[0]


def trade_op(trade_id: int, price: float = 1.0) -> WriteOp:
    return event_writes(Trade("BTCUSDT", trade_id, price, 1.0, False, NOW, NOW))[0]


async def test_candle_updates_in_any_order_converge_to_the_newest(
    mongo_db: AsyncDatabase[Document],
) -> None:
    writer = MongoWriter(mongo_db)
    collection = "candles_BTCUSDT_1m"
    for op in [kline_op(30, True, 3.0), kline_op(10, False, 1.0), kline_op(20, False, 2.0)]:
        await writer.write(collection, [op], NOW)
    (doc,) = await mongo_db[collection].find({}).to_list()
    assert (doc["close"], doc["is_closed"], doc["event_time_ms"]) == (3.0, True, 30)
    # An open update with the same event time never reopens a closed candle...
    await writer.write(collection, [kline_op(30, False, 7.0)], NOW)
    # ...while a closed one beats an open one of the same event time.
    await writer.write(collection, [kline_op(40, False, 4.0)], NOW)
    await writer.write(collection, [kline_op(40, True, 5.0)], NOW)
    (doc,) = await mongo_db[collection].find({}).to_list()
    assert (doc["close"], doc["is_closed"], doc["event_time_ms"]) == (5.0, True, 40)


async def test_insert_once_documents_keep_the_first_copy(mongo_db: AsyncDatabase[Document]) -> None:
    writer = MongoWriter(mongo_db)
    await writer.write("trades_BTCUSDT", [trade_op(1, 10.0), trade_op(2, 20.0)], NOW)
    await writer.write("trades_BTCUSDT", [trade_op(1, 99.0), trade_op(3, 30.0)], NOW)
    docs = await mongo_db["trades_BTCUSDT"].find({}).sort("_id").to_list()
    assert [(doc["_id"], doc["price"]) for doc in docs] == [(1, 10.0), (2, 20.0), (3, 30.0)]


async def test_a_document_that_can_never_be_written_is_refused_alone(
    mongo_db: AsyncDatabase[Document],
) -> None:
    writer = MongoWriter(mongo_db)
    # An array as _id: every MongoDB server refuses it. It must not hold the others back.
    poison = replace(trade_op(2), body={**trade_op(2).fields, "_id": [2]})
    outcome = await writer.write("trades_BTCUSDT", [trade_op(1), poison, trade_op(3)], NOW)
    assert set(outcome.refused) == {2}
    ids = [doc["_id"] async for doc in mongo_db["trades_BTCUSDT"].find({}, {"_id": 1})]
    assert sorted(ids) == [1, 3]


async def test_outcome_counts_what_was_new_and_what_was_updated(
    mongo_db: AsyncDatabase[Document],
) -> None:
    writer = MongoWriter(mongo_db)
    first = await writer.write("candles_BTCUSDT_1m", [kline_op(10, False, 1.0)], NOW)
    assert (first.inserted, first.updated) == (1, 0)
    newer = await writer.write("candles_BTCUSDT_1m", [kline_op(20, True, 2.0)], NOW)
    assert (newer.inserted, newer.updated) == (0, 1)
    same = await writer.write("candles_BTCUSDT_1m", [kline_op(20, True, 2.0)], NOW)
    assert (same.inserted, same.updated) == (0, 0)


async def test_a_few_updates_read_nothing_and_a_redelivered_batch_writes_nothing(
    mongo_db: AsyncDatabase[Document], infra_urls: InfraUrls
) -> None:
    collection = "candles_BTCUSDT_1m"
    batch = [kline_op(10, True, 1.0, minute) for minute in range(UPDATES_WITHOUT_READ + 5)]
    await MongoWriter(mongo_db).write(collection, batch, NOW)
    async with recording_database(infra_urls.mongodb_url, mongo_db.name) as (db, reads):
        writer = MongoWriter(db)
        # A live stream's open candle: a conditional update by _id, no read of the series.
        newer = await writer.write(collection, [kline_op(20, True, 2.0)], NOW)
        older = await writer.write(collection, [kline_op(15, True, 9.0)], NOW)
        assert (newer.updated, older.updated) == (1, 0)
        assert reads.of("candles_") == []
        # A redelivered batch beyond that: one read of its range, nothing written.
        again = await writer.write(collection, batch[1:], NOW)
        assert (again.inserted, again.updated, again.refused) == (0, 0, {})
        assert [read.command for read in reads.of("candles_")] == ["find"]
    docs = await mongo_db[collection].find({}).sort("timestamp").to_list()
    assert [(doc["close"], doc["event_time_ms"]) for doc in docs[:2]] == [(2.0, 20), (1.0, 10)]


class CommandLog(CommandListener):
    """The names of the write commands a client sent, in order."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def started(self, event: CommandStartedEvent) -> None:
        if event.command_name in {"insert", "update", "delete", "find"}:
            self.names.append(event.command_name)

    def succeeded(self, event: CommandSucceededEvent) -> None:
        pass

    def failed(self, event: CommandFailedEvent) -> None:
        pass


@pytest.fixture
async def logged_db(
    infra_urls: InfraUrls, mongo_db: AsyncDatabase[Document]
) -> AsyncIterator[tuple[AsyncDatabase[Document], CommandLog]]:
    """``mongo_db`` through a client that logs its commands."""
    log = CommandLog()
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        infra_urls.mongodb_url, tz_aware=True, event_listeners=[log]
    )
    try:
        yield client[mongo_db.name], log
    finally:
        await client.close()


async def test_an_open_candle_stored_here_is_updated_without_an_insert_first(
    logged_db: tuple[AsyncDatabase[Document], CommandLog],
) -> None:
    db, log = logged_db
    writer = MongoWriter(db)
    collection = "candles_BTCUSDT_1m"
    first = await writer.write(collection, [kline_op(10, False, 1.0)], NOW)
    assert (first.inserted, log.names) == (1, ["insert"])
    log.names.clear()
    newer = await writer.write(collection, [kline_op(20, False, 2.0)], NOW)
    closed = await writer.write(collection, [kline_op(30, True, 3.0)], NOW)
    assert [(newer.inserted, newer.updated), (closed.inserted, closed.updated)] == [(0, 1), (0, 1)]
    assert log.names == ["update", "update"]
    (doc,) = await db[collection].find({}).to_list()
    assert (doc["close"], doc["is_closed"], doc["event_time_ms"]) == (3.0, True, 30)
    # Closed: nothing newer is expected, so a redelivery goes the insert way again.
    log.names.clear()
    again = await writer.write(collection, [kline_op(30, True, 3.0)], NOW)
    assert (again.inserted, again.updated, log.names) == (0, 0, ["insert", "update"])


async def test_an_open_candle_deleted_meanwhile_is_inserted_again(
    mongo_db: AsyncDatabase[Document],
) -> None:
    writer = MongoWriter(mongo_db)
    collection = "candles_BTCUSDT_1m"
    await writer.write(collection, [kline_op(10, False, 1.0)], NOW)
    await mongo_db[collection].delete_many({})
    outcome = await writer.write(collection, [kline_op(20, False, 2.0)], NOW)
    assert (outcome.inserted, outcome.updated) == (1, 0)
    (doc,) = await mongo_db[collection].find({}).to_list()
    assert (doc["close"], doc["event_time_ms"]) == (2.0, 20)


async def test_an_older_version_of_an_open_candle_changes_nothing_whoever_wrote_the_newer(
    mongo_db: AsyncDatabase[Document],
) -> None:
    collection = "candles_BTCUSDT_1m"
    writer = MongoWriter(mongo_db)
    await writer.write(collection, [kline_op(10, False, 1.0)], NOW)
    # Another writer (a second ingestor, the backfiller) stores a newer version...
    await MongoWriter(mongo_db).write(collection, [kline_op(30, False, 3.0)], NOW)
    # ...so this writer's update matches nothing, and its insert finds the document.
    stale = await writer.write(collection, [kline_op(20, False, 2.0)], NOW)
    assert (stale.inserted, stale.updated, stale.refused) == (0, 0, {})
    (doc,) = await mongo_db[collection].find({}).to_list()
    assert (doc["close"], doc["event_time_ms"]) == (3.0, 30)

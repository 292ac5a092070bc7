"""One chunk of a job: fetch it from Binance and turn the rows into natural-key writes.

Backfilled documents are the ingestor's documents (same collections, ``_id`` natural keys and
fields, ``source: "backfill"``), so backfilled and live data never duplicate. The client's
paging iterators keep every row inside ``[start, end)`` and size each request to the chunk.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from petrosa_common.backfill_jobs import BackfillJob
from petrosa_common.documents import (
    WriteOp,
    event_writes,
    mark_price_candle_write,
    settled_funding_write,
)
from petrosa_common.events import AggTrade, Kline

from petrosa_backfiller.binance import BinanceClient
from petrosa_backfiller.binance import Kline as RestKline


@dataclass(frozen=True, slots=True)
class ChunkRows:
    """What one chunk fetched, as writes grouped by collection."""

    fetched: int
    writes: dict[str, list[WriteOp]]


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _closed_kline(symbol: str, interval: str, row: RestKline) -> Kline:
    return Kline(
        symbol=symbol,
        interval=interval,
        open_time=_at(row.open_time_ms),
        close_time=_at(row.close_time_ms),
        open=row.open,
        high=row.high,
        low=row.low,
        close=row.close,
        volume=row.volume,
        quote_volume=row.quote_volume,
        trades_count=row.trades,
        taker_buy_base_volume=row.taker_buy_base,
        taker_buy_quote_volume=row.taker_buy_quote,
        is_closed=True,
        event_time_ms=row.close_time_ms + 1,
        open_time_ms=row.open_time_ms,
    )


async def fetch_chunk(
    client: BinanceClient, job: BackfillJob, start: datetime, end: datetime, now: datetime
) -> ChunkRows:
    """Rows of ``[start, end)`` of ``job``'s series (closed candles only)."""
    symbol, data_type, timeframe = job.symbol, job.data_type, job.timeframe or ""
    start_ms, end_ms = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    now_ms = int(now.timestamp() * 1000)
    ops: list[WriteOp] = []
    fetched = 0
    if data_type == "candles":
        async for klines in client.iter_klines(symbol, timeframe, start_ms, end_ms):
            fetched += len(klines)
            for row in klines:
                if row.close_time_ms < now_ms:  # a still-forming candle is never written
                    ops.extend(
                        event_writes(_closed_kline(symbol, timeframe, row), source="backfill")
                    )
    elif data_type == "mark_price":
        async for marks in client.iter_mark_price_klines(symbol, timeframe, start_ms, end_ms):
            fetched += len(marks)
            ops.extend(
                mark_price_candle_write(
                    symbol,
                    timeframe,
                    mark.open_time_ms,
                    (mark.open, mark.high, mark.low, mark.close),
                    "backfill",
                )
                for mark in marks
                if mark.close_time_ms < now_ms
            )
    elif data_type == "funding":
        async for rates in client.iter_funding_rates(symbol, start_ms, end_ms):
            fetched += len(rates)
            ops.extend(
                settled_funding_write(
                    symbol, rate.funding_time_ms, rate.funding_rate, rate.mark_price, "backfill"
                )
                for rate in rates
            )
    else:  # agg_trades
        async for trades in client.iter_agg_trades(symbol, start_ms, end_ms):
            fetched += len(trades)
            for trade in trades:
                event = AggTrade(
                    symbol=symbol,
                    agg_trade_id=trade.agg_id,
                    price=trade.price,
                    quantity=trade.quantity,
                    first_trade_id=trade.first_trade_id,
                    last_trade_id=trade.last_trade_id,
                    is_buyer_maker=trade.is_buyer_maker,
                    trade_time=_at(trade.timestamp_ms),
                    event_time=_at(trade.timestamp_ms),
                )
                ops.extend(event_writes(event, source="backfill"))
    writes: dict[str, list[WriteOp]] = {}
    for op in ops:
        writes.setdefault(op.collection, []).append(op)
    return ChunkRows(fetched, writes)

"""One chunk of a job: fetch it from Binance and turn the rows into natural-key writes.

Backfilled documents are the ingestor's documents (same collections, ``_id`` natural keys and
fields, ``source: "backfill"``), so backfilled and live data never duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from petrosa_common.documents import WriteOp, event_writes, time_key
from petrosa_common.events import AggTrade, Kline
from petrosa_common.naming import DatasetKind, collection_name

from petrosa_backfiller.binance import BinanceClient


@dataclass(frozen=True, slots=True)
class ChunkRows:
    """What one chunk fetched, as writes grouped by collection."""

    fetched: int
    writes: dict[str, list[WriteOp]]


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


async def fetch_chunk(
    client: BinanceClient, job: dict[str, Any], start: datetime, end: datetime, now: datetime
) -> ChunkRows:
    """Rows of ``[start, end)`` of ``job``'s series (closed candles only)."""
    symbol: str = job["symbol"]
    data_type: str = job["data_type"]
    start_ms, end_ms = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    now_ms = int(now.timestamp() * 1000)
    ops: list[WriteOp] = []
    fetched = 0
    if data_type == "candles":
        timeframe: str = job["timeframe"]
        rows = await client.get_klines(
            symbol, timeframe, start_time_ms=start_ms, end_time_ms=end_ms - 1, limit=1500
        )
        fetched = len(rows)
        for row in rows:
            if row.close_time_ms >= now_ms or not start_ms <= row.open_time_ms < end_ms:
                continue  # still forming, or outside the chunk
            kline = Kline(
                symbol=symbol,
                interval=timeframe,
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
            ops.extend(event_writes(kline, source="backfill"))
    elif data_type == "agg_trades":
        async for page in client.iter_agg_trades(symbol, start_ms, end_ms):
            fetched += len(page)
            for trade in page:
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
    elif data_type == "funding":
        rates = await client.get_funding_rates(
            symbol, start_time_ms=start_ms, end_time_ms=end_ms - 1, limit=1000
        )
        fetched = len(rates)
        kind = DatasetKind.FUNDING_RATES
        for rate in rates:
            ms = rate.funding_time_ms
            body = {
                "symbol": symbol,
                "timestamp": _at(ms),
                "funding_rate": rate.funding_rate,
                "mark_price": rate.mark_price,
                "index_price": None,
                "event_time_ms": ms,
                "is_closed": True,
                "source": "backfill",
            }
            # The settled rate outranks every prediction made before the funding time.
            ops.append(
                WriteOp(
                    kind,
                    symbol,
                    None,
                    collection_name(kind, symbol),
                    time_key(symbol, ms),
                    None,
                    "backfill",
                    (ms, True),
                    body,
                )
            )
    else:  # mark_price: one point per mark price kline, at its open time
        timeframe = job["timeframe"]
        marks = await client.get_mark_price_klines(
            symbol, timeframe, start_time_ms=start_ms, end_time_ms=end_ms - 1, limit=1500
        )
        fetched = len(marks)
        kind = DatasetKind.MARK_PRICES
        for mark in marks:
            if mark.close_time_ms >= now_ms or not start_ms <= mark.open_time_ms < end_ms:
                continue
            body = {
                "symbol": symbol,
                "timestamp": _at(mark.open_time_ms),
                "mark_price": mark.close,
                "open": mark.open,
                "high": mark.high,
                "low": mark.low,
                "interval": timeframe,
                "source": "backfill",
            }
            ops.append(
                WriteOp(
                    kind,
                    symbol,
                    None,
                    collection_name(kind, symbol),
                    time_key(symbol, mark.open_time_ms),
                    None,
                    "backfill",
                    None,
                    body,
                )
            )
    writes: dict[str, list[WriteOp]] = {}
    for op in ops:
        writes.setdefault(op.collection, []).append(op)
    return ChunkRows(fetched, writes)

"""Typed rows of Binance REST responses, parsed from the JSON Binance sends.

Binance sends prices and quantities as strings and times as epoch milliseconds (UTC); the
dataclasses hold floats and ``int`` milliseconds. A row of the wrong shape raises
:class:`~petrosa_backfiller.binance.errors.BinanceResponseError`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from petrosa_backfiller.binance.errors import BinanceResponseError

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Kline:
    """One candle of ``/fapi/v1/klines``; ``open_time_ms`` is its natural key."""

    open_time_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    close_time_ms: int
    quote_volume: float
    trades: int
    taker_buy_base: float
    taker_buy_quote: float

    @classmethod
    def from_row(cls, row: Any) -> Kline:
        """Parse ``[open_time, "open", "high", "low", "close", "volume", close_time, ...]``."""
        if not isinstance(row, list) or len(row) < 11:
            raise BinanceResponseError(f"not a kline row: {row!r}")
        try:
            return cls(
                open_time_ms=int(row[0]),
                open=float(row[1]),
                high=float(row[2]),
                low=float(row[3]),
                close=float(row[4]),
                volume=float(row[5]),
                close_time_ms=int(row[6]),
                quote_volume=float(row[7]),
                trades=int(row[8]),
                taker_buy_base=float(row[9]),
                taker_buy_quote=float(row[10]),
            )
        except (TypeError, ValueError) as exc:
            raise BinanceResponseError(f"bad kline row {row!r}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class MarkPriceKline:
    """One candle of ``/fapi/v1/markPriceKlines`` (prices only; Binance leaves volumes blank)."""

    open_time_ms: int
    open: float
    high: float
    low: float
    close: float
    close_time_ms: int

    @classmethod
    def from_row(cls, row: Any) -> MarkPriceKline:
        """Parse ``[open_time, "open", "high", "low", "close", "ignore", close_time, ...]``."""
        if not isinstance(row, list) or len(row) < 7:
            raise BinanceResponseError(f"not a mark price kline row: {row!r}")
        try:
            return cls(
                open_time_ms=int(row[0]),
                open=float(row[1]),
                high=float(row[2]),
                low=float(row[3]),
                close=float(row[4]),
                close_time_ms=int(row[6]),
            )
        except (TypeError, ValueError) as exc:
            raise BinanceResponseError(f"bad mark price kline row {row!r}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class AggTrade:
    """One aggregate trade of ``/fapi/v1/aggTrades``; ``agg_id`` (Binance ``a``) is its key."""

    agg_id: int
    price: float
    quantity: float
    first_trade_id: int
    last_trade_id: int
    timestamp_ms: int
    is_buyer_maker: bool

    @classmethod
    def from_row(cls, row: Any) -> AggTrade:
        """Parse ``{"a", "p", "q", "f", "l", "T", "m"}``."""
        if not isinstance(row, dict):
            raise BinanceResponseError(f"not an aggTrade row: {row!r}")
        try:
            return cls(
                agg_id=int(row["a"]),
                price=float(row["p"]),
                quantity=float(row["q"]),
                first_trade_id=int(row["f"]),
                last_trade_id=int(row["l"]),
                timestamp_ms=int(row["T"]),
                is_buyer_maker=bool(row["m"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BinanceResponseError(f"bad aggTrade row {row!r}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class FundingRate:
    """One settled funding of ``/fapi/v1/fundingRate``; ``funding_time_ms`` is its key.

    ``mark_price`` is ``None`` for old rows where Binance sends an empty string.
    """

    symbol: str
    funding_rate: float
    funding_time_ms: int
    mark_price: float | None

    @classmethod
    def from_row(cls, row: Any) -> FundingRate:
        """Parse ``{"symbol", "fundingRate", "fundingTime", "markPrice"}``."""
        if not isinstance(row, dict):
            raise BinanceResponseError(f"not a funding rate row: {row!r}")
        try:
            mark = row.get("markPrice")
            return cls(
                symbol=str(row["symbol"]),
                funding_rate=float(row["fundingRate"]),
                funding_time_ms=int(row["fundingTime"]),
                mark_price=float(mark) if mark not in (None, "") else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BinanceResponseError(f"bad funding rate row {row!r}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class RateLimit:
    """One entry of ``exchangeInfo.rateLimits`` (e.g. REQUEST_WEIGHT, MINUTE, 1, 2400)."""

    rate_limit_type: str
    interval: str
    interval_num: int
    limit: int


@dataclass(frozen=True, slots=True)
class SymbolInfo:
    """The parts of an ``exchangeInfo.symbols`` entry a backfill needs."""

    symbol: str
    pair: str
    contract_type: str
    status: str
    base_asset: str
    quote_asset: str
    margin_asset: str
    onboard_date_ms: int | None


@dataclass(frozen=True, slots=True)
class ExchangeInfo:
    """``/fapi/v1/exchangeInfo``: the server's rate limits and symbols."""

    server_time_ms: int
    timezone: str
    rate_limits: tuple[RateLimit, ...]
    symbols: tuple[SymbolInfo, ...]

    def symbol(self, name: str) -> SymbolInfo | None:
        """The entry of ``name`` (case-insensitive), or ``None`` when Binance does not list it."""
        wanted = name.upper()
        return next((info for info in self.symbols if info.symbol == wanted), None)

    @property
    def request_weight_per_minute(self) -> int | None:
        """The REQUEST_WEIGHT limit per one minute, when Binance states one."""
        for limit in self.rate_limits:
            if (
                limit.rate_limit_type == "REQUEST_WEIGHT"
                and limit.interval == "MINUTE"
                and limit.interval_num == 1
            ):
                return limit.limit
        return None

    @classmethod
    def from_payload(cls, payload: Any) -> ExchangeInfo:
        """Parse the ``exchangeInfo`` object (unknown keys are ignored)."""
        if not isinstance(payload, dict):
            raise BinanceResponseError("exchangeInfo is not an object")
        try:
            limits = tuple(
                RateLimit(
                    rate_limit_type=str(item["rateLimitType"]),
                    interval=str(item["interval"]),
                    interval_num=int(item["intervalNum"]),
                    limit=int(item["limit"]),
                )
                for item in payload.get("rateLimits", [])
            )
            symbols = tuple(
                SymbolInfo(
                    symbol=str(item["symbol"]),
                    pair=str(item.get("pair", item["symbol"])),
                    contract_type=str(item.get("contractType", "")),
                    status=str(item.get("status", "")),
                    base_asset=str(item.get("baseAsset", "")),
                    quote_asset=str(item.get("quoteAsset", "")),
                    margin_asset=str(item.get("marginAsset", "")),
                    onboard_date_ms=(
                        int(item["onboardDate"]) if item.get("onboardDate") is not None else None
                    ),
                )
                for item in payload.get("symbols", [])
            )
            return cls(
                server_time_ms=int(payload.get("serverTime", 0)),
                timezone=str(payload.get("timezone", "UTC")),
                rate_limits=limits,
                symbols=symbols,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BinanceResponseError(f"bad exchangeInfo: {exc}") from exc


def parse_rows(payload: Any, parse: Callable[[Any], _T], what: str) -> list[_T]:
    """Parse a JSON array of rows with ``parse`` (e.g. ``Kline.from_row``)."""
    if not isinstance(payload, list):
        raise BinanceResponseError(f"{what}: expected a JSON array, got {type(payload).__name__}")
    return [parse(row) for row in payload]


__all__ = [
    "AggTrade",
    "ExchangeInfo",
    "FundingRate",
    "Kline",
    "MarkPriceKline",
    "RateLimit",
    "SymbolInfo",
    "parse_rows",
]

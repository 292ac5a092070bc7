"""An async client of Binance USDⓈ-M futures market data (REST), with rate-limit discipline.

One :class:`BinanceClient` is shared by every job of a process: its :class:`WeightLimiter`
keeps the whole process within ``weight_budget`` per UTC minute, and a 429/418 pauses every
request, not only the one that got it.

Failure policy, per request:

* **429** (too many requests): pause all traffic for ``Retry-After`` seconds (or to the next
  minute when absent), halve the budget for a while, then retry.
* **418** (IP banned): pause all traffic until the ban ends (``Retry-After``, or the
  ``banned until <ms>`` in Binance's message, else 2 minutes), halve the budget, then retry.
  429/418 retries are bounded separately (``RetryPolicy.max_rate_limited``).
* **5xx, 408, 403 (Binance's WAF limit; also halves the budget for a while), timeouts,
  connection errors, truncated bodies**: retry after a jittered
  exponential back-off (this request only); after ``RetryPolicy.max_attempts`` failures raise
  :class:`BinanceUnavailable`.
* **Other 4xx** (bad symbol, bad interval, …): raise :class:`BinanceRequestError` with
  Binance's ``code`` and ``msg`` at once.
"""

from __future__ import annotations

import random
import re
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, replace
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
import orjson
import structlog
from petrosa_common.timeframes import is_timeframe

from petrosa_backfiller.binance.clock import Clock
from petrosa_backfiller.binance.errors import (
    BinanceRequestError,
    BinanceResponseError,
    BinanceUnavailable,
)
from petrosa_backfiller.binance.limiter import MinuteUsage, RequestWindow, WeightLimiter
from petrosa_backfiller.binance.models import (
    AggTrade,
    ExchangeInfo,
    FundingRate,
    Kline,
    MarkPriceKline,
    parse_rows,
)
from petrosa_backfiller.binance.paging import kline_chunks
from petrosa_backfiller.binance.weights import (
    AGG_TRADES_MAX_LIMIT,
    AGG_TRADES_MAX_WINDOW_MS,
    AGG_TRADES_WEIGHT,
    EXCHANGE_INFO_WEIGHT,
    FUNDING_RATE_MAX_LIMIT,
    FUNDING_RATE_REQUESTS_PER_5M,
    FUNDING_RATE_WEIGHT,
    KLINES_MAX_LIMIT,
    SERVER_TIME_WEIGHT,
    kline_weight,
)

log = structlog.get_logger(__name__)

DEFAULT_BASE_URL = "https://fapi.binance.com"
USED_WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
API_KEY_HEADER = "X-MBX-APIKEY"

FUNDING_RATE_ENDPOINT = "/fapi/v1/fundingRate"
_BAN_UNTIL = re.compile(r"banned until (\d{12,14})", re.IGNORECASE)
_DEFAULT_BAN_SECONDS = 120.0  # Binance's shortest ban
_K = TypeVar("_K", Kline, MarkPriceKline)

Params = Mapping[str, str | int]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard the client tries before giving up on one request."""

    max_attempts: int = 5
    """Tries of a request failing with 5xx/408/timeouts/connection errors (then unavailable)."""
    backoff_base: float = 0.5
    """First back-off ceiling in seconds; doubled per failure."""
    backoff_cap: float = 30.0
    """Largest back-off ceiling in seconds."""
    max_rate_limited: int = 20
    """429/418 answers one request may get before the client gives up on it."""


@dataclass(slots=True)
class BinanceCounters:
    """Running totals of one client (plain numbers; the service exports them as metrics)."""

    requests: int = 0
    """HTTP requests sent, retries included."""
    weight_sent: int = 0
    """Sum of the weights of those requests."""
    responses_ok: int = 0
    rate_limited: int = 0
    """429 answers."""
    banned: int = 0
    """418 answers."""
    server_errors: int = 0
    """5xx and 408 answers."""
    transport_errors: int = 0
    """Timeouts, connection errors and truncated bodies."""
    request_errors: int = 0
    """Other 4xx answers (raised as :class:`BinanceRequestError`)."""
    retries: int = 0
    """Requests sent again after any failure."""
    last_used_weight: int | None = None
    """The latest ``X-MBX-USED-WEIGHT-1M`` received."""


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One finished HTTP exchange, handed to the ``on_response`` hook."""

    endpoint: str
    status: int | None
    """HTTP status, ``None`` for a timeout or connection error."""
    weight: int
    seconds: float
    used_weight: int | None


@dataclass(frozen=True, slots=True)
class BinanceStats:
    """A snapshot of a client's counters and its weight per minute."""

    counters: BinanceCounters
    budget: int
    effective_budget: int
    budget_wait_seconds: float
    pause_wait_seconds: float
    minutes: list[MinuteUsage]
    """Weight per UTC minute with traffic, oldest first; the last entry may be in progress."""


class BinanceClient:
    """Binance USDⓈ-M futures market data over REST; use as ``async with BinanceClient(...)``.

    ``weight_budget`` is the weight per minute this process allows itself (a safe share of
    Binance's 2,400); ``funding_rate_budget_5m`` the ``/fapi/v1/fundingRate`` requests per
    5 minutes (that endpoint's own limit is 500 per IP). ``klines_limit`` is the candles asked
    per klines request unless a call says otherwise: 1,500 makes the fewest requests, 499 the
    least weight per candle (2 per 499 against 10 per 1,500). ``clock`` and ``transport`` exist
    for tests (:class:`ManualClock`, ``httpx.MockTransport``); ``rng`` makes the back-off
    jitter reproducible.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        api_key: str | None = None,
        weight_budget: int = 2_000,
        funding_rate_budget_5m: int = 450,
        klines_limit: int = KLINES_MAX_LIMIT,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        rng: random.Random | None = None,
        skew_tolerance: float = 0.5,
        slowdown_seconds: float = 120.0,
        on_response: Callable[[RequestRecord], None] | None = None,
    ) -> None:
        kline_weight(klines_limit)  # refuses a limit Binance would refuse, before any I/O set-up
        if not 0 < funding_rate_budget_5m <= FUNDING_RATE_REQUESTS_PER_5M:
            raise ValueError(
                f"funding_rate_budget_5m must be within 1..{FUNDING_RATE_REQUESTS_PER_5M}"
            )
        headers = {"User-Agent": "petrosa-backfiller"}
        if api_key:
            headers[API_KEY_HEADER] = api_key
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(timeout),
            transport=transport,
        )
        self.limiter = WeightLimiter(
            weight_budget,
            clock=clock,
            skew_tolerance=skew_tolerance,
            slowdown_seconds=slowdown_seconds,
        )
        self.klines_limit = klines_limit
        self.funding_window = RequestWindow(
            funding_rate_budget_5m, 300.0, self.limiter.now, self.limiter.clock
        )
        self.retry = retry or RetryPolicy()
        self.counters = BinanceCounters()
        # Jitter only spreads retries out; it protects nothing, so a plain PRNG is right.
        self._rng = rng or random.Random()  # noqa: S311
        self._on_response = on_response

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._http.aclose()

    # ----------------------------------------------------------------- single requests

    async def get_server_time(self) -> int:
        """``/fapi/v1/time``: the server's time in epoch milliseconds (weight 1)."""
        payload = await self._get("/fapi/v1/time", {}, SERVER_TIME_WEIGHT)
        try:
            return int(payload["serverTime"])
        except (KeyError, TypeError, ValueError) as exc:
            raise _bad_response("time", payload) from exc

    async def sync_server_time(self) -> float:
        """Measure the server clock and align the limiter's minute window on it.

        Returns the offset (seconds, server minus local) now used by the limiter.
        """
        clock = self.limiter.clock
        before = clock.time()
        server_ms = await self.get_server_time()
        after = clock.time()
        self.limiter.offset = server_ms / 1000 - (before + after) / 2
        return self.limiter.offset

    async def get_exchange_info(self) -> ExchangeInfo:
        """``/fapi/v1/exchangeInfo``: rate limits and symbols (weight 1)."""
        payload = await self._get("/fapi/v1/exchangeInfo", {}, EXCHANGE_INFO_WEIGHT)
        return ExchangeInfo.from_payload(payload)

    async def get_klines(
        self,
        symbol: str,
        interval: str,
        *,
        start_time_ms: int | None = None,
        end_time_ms: int | None = None,
        limit: int = 500,
    ) -> list[Kline]:
        """One ``/fapi/v1/klines`` request; times are Binance's inclusive open-time bounds."""
        payload = await self._get_klines(
            "/fapi/v1/klines", symbol, interval, start_time_ms, end_time_ms, limit
        )
        return parse_rows(payload, Kline.from_row, "klines")

    async def get_mark_price_klines(
        self,
        symbol: str,
        interval: str,
        *,
        start_time_ms: int | None = None,
        end_time_ms: int | None = None,
        limit: int = 500,
    ) -> list[MarkPriceKline]:
        """One ``/fapi/v1/markPriceKlines`` request (same bounds and weights as klines)."""
        payload = await self._get_klines(
            "/fapi/v1/markPriceKlines", symbol, interval, start_time_ms, end_time_ms, limit
        )
        return parse_rows(payload, MarkPriceKline.from_row, "markPriceKlines")

    async def get_agg_trades(
        self,
        symbol: str,
        *,
        from_id: int | None = None,
        start_time_ms: int | None = None,
        end_time_ms: int | None = None,
        limit: int = 500,
    ) -> list[AggTrade]:
        """One ``/fapi/v1/aggTrades`` request (weight 20), oldest first.

        Either ``from_id`` or a time window (inclusive; less than one hour wide when both
        ends are given), never both: Binance warns the combination may time out.
        """
        if not 1 <= limit <= AGG_TRADES_MAX_LIMIT:
            raise ValueError(f"aggTrades limit must be within 1..{AGG_TRADES_MAX_LIMIT}")
        if from_id is not None and (start_time_ms is not None or end_time_ms is not None):
            raise ValueError("aggTrades takes either from_id or startTime/endTime, not both")
        if (
            start_time_ms is not None
            and end_time_ms is not None
            and not 0 <= end_time_ms - start_time_ms < AGG_TRADES_MAX_WINDOW_MS
        ):
            raise ValueError("aggTrades window must be non-negative and shorter than one hour")
        params: dict[str, str | int] = {"symbol": symbol, "limit": limit}
        _put(params, fromId=from_id, startTime=start_time_ms, endTime=end_time_ms)
        payload = await self._get("/fapi/v1/aggTrades", params, AGG_TRADES_WEIGHT)
        return parse_rows(payload, AggTrade.from_row, "aggTrades")

    async def get_funding_rates(
        self,
        symbol: str,
        *,
        start_time_ms: int | None = None,
        end_time_ms: int | None = None,
        limit: int = 100,
    ) -> list[FundingRate]:
        """One ``/fapi/v1/fundingRate`` request (weight 1), oldest first, inclusive bounds."""
        if not 1 <= limit <= FUNDING_RATE_MAX_LIMIT:
            raise ValueError(f"fundingRate limit must be within 1..{FUNDING_RATE_MAX_LIMIT}")
        params: dict[str, str | int] = {"symbol": symbol, "limit": limit}
        _put(params, startTime=start_time_ms, endTime=end_time_ms)
        payload = await self._get(FUNDING_RATE_ENDPOINT, params, FUNDING_RATE_WEIGHT)
        return parse_rows(payload, FundingRate.from_row, "fundingRate")

    # ----------------------------------------------------------------------- paging

    async def iter_klines(
        self,
        symbol: str,
        interval: str,
        start_ms: int,
        end_ms: int,
        *,
        limit: int | None = None,
    ) -> AsyncIterator[list[Kline]]:
        """Candles with open time in ``[start_ms, end_ms)``, one list per request.

        Requests of at most ``limit`` candles (default the client's ``klines_limit``) follow
        :func:`~petrosa_backfiller.binance.paging.kline_chunks` (aligned on
        the interval grid, never past ``end_ms``); a chunk Binance has no candles for yields an
        empty list, so a caller can count chunks for progress.
        """
        async for page in self._iter_klines(
            "/fapi/v1/klines", Kline.from_row, symbol, interval, start_ms, end_ms, limit
        ):
            yield page

    async def iter_mark_price_klines(
        self,
        symbol: str,
        interval: str,
        start_ms: int,
        end_ms: int,
        *,
        limit: int | None = None,
    ) -> AsyncIterator[list[MarkPriceKline]]:
        """Mark price candles with open time in ``[start_ms, end_ms)``, like :meth:`iter_klines`."""
        async for page in self._iter_klines(
            "/fapi/v1/markPriceKlines",
            MarkPriceKline.from_row,
            symbol,
            interval,
            start_ms,
            end_ms,
            limit,
        ):
            yield page

    async def iter_funding_rates(
        self,
        symbol: str,
        start_ms: int,
        end_ms: int,
        *,
        limit: int = FUNDING_RATE_MAX_LIMIT,
    ) -> AsyncIterator[list[FundingRate]]:
        """Fundings with funding time in ``[start_ms, end_ms)``, one non-empty list per request."""
        cursor = start_ms
        while cursor < end_ms:
            rows = await self.get_funding_rates(
                symbol, start_time_ms=cursor, end_time_ms=end_ms - 1, limit=limit
            )
            page = [row for row in rows if cursor <= row.funding_time_ms < end_ms]
            if page:
                yield page
            if len(rows) < limit or not page:
                return
            cursor = page[-1].funding_time_ms + 1

    async def iter_agg_trades(
        self,
        symbol: str,
        start_ms: int,
        end_ms: int,
        *,
        limit: int = AGG_TRADES_MAX_LIMIT,
    ) -> AsyncIterator[list[AggTrade]]:
        """Aggregate trades with time in ``[start_ms, end_ms)``, one non-empty list per request.

        Finds the first trade with time windows shorter than one hour (``startTime/endTime``),
        then pages by ``fromId`` (every page full, weight 20 whatever the density) until a
        trade at or after ``end_ms`` appears or Binance has no more.
        """
        cursor = start_ms
        while cursor < end_ms:
            window_end = min(cursor + AGG_TRADES_MAX_WINDOW_MS, end_ms)
            rows = await self.get_agg_trades(
                symbol, start_time_ms=cursor, end_time_ms=window_end - 1, limit=limit
            )
            if not rows:
                cursor = window_end
                continue
            page = [row for row in rows if start_ms <= row.timestamp_ms < end_ms]
            if page:
                yield page
            if rows[-1].timestamp_ms >= end_ms:
                return
            async for page in self._agg_trades_from(symbol, rows[-1].agg_id + 1, limit, end_ms):
                yield page
            return

    async def iter_agg_trades_by_id(
        self,
        symbol: str,
        first_id: int,
        last_id: int,
        *,
        limit: int = AGG_TRADES_MAX_LIMIT,
    ) -> AsyncIterator[list[AggTrade]]:
        """Aggregate trades with ids in ``[first_id, last_id]`` (inclusive, e.g. an id hole)."""
        cursor = first_id
        while cursor <= last_id:
            rows = await self.get_agg_trades(symbol, from_id=cursor, limit=limit)
            page = [row for row in rows if cursor <= row.agg_id <= last_id]
            if page:
                yield page
            if not rows or rows[-1].agg_id >= last_id or rows[-1].agg_id < cursor:
                return
            cursor = rows[-1].agg_id + 1

    # ------------------------------------------------------------------------ stats

    def stats(self) -> BinanceStats:
        """Counters, budget, waits and the weight used per minute (for the benchmark)."""
        return BinanceStats(
            counters=replace(self.counters),
            budget=self.limiter.budget,
            effective_budget=self.limiter.effective_budget,
            budget_wait_seconds=self.limiter.budget_wait_seconds,
            pause_wait_seconds=self.limiter.pause_wait_seconds,
            minutes=self.limiter.history(),
        )

    # -------------------------------------------------------------------- internals

    async def _agg_trades_from(
        self, symbol: str, from_id: int, limit: int, end_ms: int
    ) -> AsyncIterator[list[AggTrade]]:
        cursor = from_id
        while True:
            rows = await self.get_agg_trades(symbol, from_id=cursor, limit=limit)
            page = [row for row in rows if row.agg_id >= cursor and row.timestamp_ms < end_ms]
            if page:
                yield page
            if len(page) < len(rows) or len(rows) < limit:
                return
            cursor = rows[-1].agg_id + 1

    async def _iter_klines(
        self,
        endpoint: str,
        parse: Callable[[Any], _K],
        symbol: str,
        interval: str,
        start_ms: int,
        end_ms: int,
        limit: int | None,
    ) -> AsyncIterator[list[_K]]:
        _check_interval(interval)
        for chunk in kline_chunks(interval, start_ms, end_ms, limit or self.klines_limit):
            payload = await self._get_klines(
                endpoint, symbol, interval, chunk.start_ms, chunk.end_ms - 1, chunk.candles
            )
            rows = parse_rows(payload, parse, endpoint)
            yield [row for row in rows if chunk.start_ms <= row.open_time_ms < chunk.end_ms]

    async def _get_klines(
        self,
        endpoint: str,
        symbol: str,
        interval: str,
        start_time_ms: int | None,
        end_time_ms: int | None,
        limit: int,
    ) -> Any:
        _check_interval(interval)
        weight = kline_weight(limit)
        params: dict[str, str | int] = {"symbol": symbol, "interval": interval, "limit": limit}
        _put(params, startTime=start_time_ms, endTime=end_time_ms)
        return await self._get(endpoint, params, weight)

    async def _get(self, endpoint: str, params: Params, weight: int) -> Any:
        """GET ``endpoint`` within the budget, applying the failure policy of the module."""
        limiter = self.limiter
        failures = 0
        limited = 0
        while True:
            if endpoint == FUNDING_RATE_ENDPOINT:
                await self.funding_window.acquire()
            await limiter.acquire(weight)
            self.counters.requests += 1
            self.counters.weight_sent += weight
            sent_at = limiter.now()
            try:
                response = await self._http.get(endpoint, params=params)
                body = response.content
            except httpx.UnsupportedProtocol:
                raise
            except httpx.TransportError as exc:
                self.counters.transport_errors += 1
                self._record(endpoint, None, weight, sent_at, None)
                failures += 1
                await self._back_off(endpoint, failures, f"{type(exc).__name__}: {exc}", None)
                continue
            received_at = limiter.now()
            used = _used_weight(response)
            if used is not None:
                self.counters.last_used_weight = used
            limiter.observe(used, sent_at, received_at)
            status = response.status_code
            self._record(endpoint, status, weight, sent_at, used)

            if 200 <= status < 300:
                try:
                    payload = orjson.loads(body)
                except orjson.JSONDecodeError:
                    self.counters.transport_errors += 1
                    failures += 1
                    await self._back_off(endpoint, failures, "response is not JSON", None)
                    continue
                self.counters.responses_ok += 1
                return payload

            if status in (418, 429):
                limited += 1
                code, msg = _error_body(body)
                if status == 429:
                    self.counters.rate_limited += 1
                    wait = _retry_after(response, received_at)
                    until = received_at + wait if wait is not None else limiter.next_window_start()
                else:
                    self.counters.banned += 1
                    until = _ban_end(response, msg, received_at)
                limiter.slow_down()
                limiter.pause_until(until)
                log.warning(
                    "binance_rate_limited",
                    endpoint=endpoint,
                    status=status,
                    code=code,
                    msg=msg,
                    pause_seconds=round(until - received_at, 3),
                    used_weight=used,
                    budget=limiter.effective_budget,
                )
                if limited > self.retry.max_rate_limited:
                    raise BinanceUnavailable(endpoint, failures + limited, f"HTTP {status}: {msg}")
                self.counters.retries += 1
                continue

            if status >= 500 or status in (403, 408):
                self.counters.server_errors += 1
                failures += 1
                _, msg = _error_body(body)
                if status == 403:  # Binance's WAF limit: the IP is being throttled
                    limiter.slow_down()
                wait = _retry_after(response, received_at)
                await self._back_off(endpoint, failures, f"HTTP {status}: {msg}", wait)
                continue

            self.counters.request_errors += 1
            code, msg = _error_body(body)
            raise BinanceRequestError(code, msg, status=status)

    async def _back_off(
        self, endpoint: str, failures: int, error: str, retry_after: float | None
    ) -> None:
        if failures >= self.retry.max_attempts:
            raise BinanceUnavailable(endpoint, failures, error)
        ceiling = min(self.retry.backoff_cap, self.retry.backoff_base * 2 ** (failures - 1))
        delay = ceiling / 2 + self._rng.uniform(0, ceiling / 2)
        if retry_after is not None:
            delay = max(delay, retry_after)
        log.warning(
            "binance_retry", endpoint=endpoint, attempt=failures, error=error, delay=round(delay, 3)
        )
        self.counters.retries += 1
        await self.limiter.clock.sleep(delay)

    def _record(
        self, endpoint: str, status: int | None, weight: int, sent_at: float, used: int | None
    ) -> None:
        if self._on_response is not None:
            seconds = max(0.0, self.limiter.now() - sent_at)
            self._on_response(RequestRecord(endpoint, status, weight, seconds, used))


def _check_interval(interval: str) -> None:
    if not is_timeframe(interval):
        raise ValueError(f"unknown kline interval {interval!r}")


def _put(params: dict[str, str | int], **optional: int | None) -> None:
    params.update({key: value for key, value in optional.items() if value is not None})


def _used_weight(response: httpx.Response) -> int | None:
    raw = response.headers.get(USED_WEIGHT_HEADER)
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def _retry_after(response: httpx.Response, now: float) -> float | None:
    """``Retry-After`` in seconds (Binance sends seconds; an HTTP date is accepted too)."""
    raw = response.headers.get("Retry-After")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(raw).timestamp() - now)
    except (TypeError, ValueError):
        return None


def _ban_end(response: httpx.Response, msg: str, now: float) -> float:
    wait = _retry_after(response, now)
    candidates = [now + wait] if wait is not None else []
    match = _BAN_UNTIL.search(msg)
    if match:
        candidates.append(int(match.group(1)) / 1000)
    return max(candidates) if candidates else now + _DEFAULT_BAN_SECONDS


def _error_body(body: bytes) -> tuple[int | None, str]:
    """Binance's ``{"code": -1121, "msg": "Invalid symbol."}``, or the raw text."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        payload = None
    if isinstance(payload, dict) and "msg" in payload:
        code = payload.get("code")
        return (code if isinstance(code, int) else None), str(payload["msg"])
    text = body.decode("utf-8", "replace").strip()
    return None, text[:500] or "(empty body)"


def _bad_response(what: str, payload: Any) -> BinanceResponseError:
    return BinanceResponseError(f"{what}: unexpected response {payload!r}"[:500])


__all__ = [
    "API_KEY_HEADER",
    "DEFAULT_BASE_URL",
    "USED_WEIGHT_HEADER",
    "BinanceClient",
    "BinanceCounters",
    "BinanceStats",
    "RequestRecord",
    "RetryPolicy",
]

"""Binance's request weights and its per-IP weight limit with 429s and 418 bans.

Weights are those of Binance's USDⓈ-M futures market-data endpoints. The used weight is
counted in fixed one-minute windows aligned to the minute, per client IP, the way Binance
reports it in ``X-MBX-USED-WEIGHT-1M``. A request that would exceed the limit is refused
with 429 and ``Retry-After`` (seconds until the window ends) and costs nothing; an IP that
keeps sending after that (more than ``ban_after_429s`` refusals in one window) is banned:
418 with ``Retry-After`` for ``ban_seconds``.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

WINDOW_MS = 60_000
DEFAULT_WEIGHT_LIMIT = 2_400
HISTORY_MINUTES = 1_440
"""How many minutes of used weight :meth:`WeightLimiter.history` remembers."""


def kline_weight(limit: int) -> int:
    """Weight of ``/fapi/v1/klines`` (and the other kline endpoints) for ``limit`` rows."""
    if limit < 100:
        return 1
    if limit < 500:
        return 2
    if limit <= 1000:
        return 5
    return 10


_FIXED_WEIGHTS: dict[str, int] = {
    "/fapi/v1/ping": 1,
    "/fapi/v1/time": 1,
    "/fapi/v1/exchangeInfo": 1,
    "/fapi/v1/aggTrades": 20,
    "/fapi/v1/fundingRate": 1,
}
KLINE_PATHS = frozenset({"/fapi/v1/klines", "/fapi/v1/markPriceKlines"})
DEFAULT_KLINE_LIMIT = 500


def request_weight(path: str, params: Mapping[str, str]) -> int:
    """Weight Binance charges for one request (unknown paths cost 1)."""
    if path in KLINE_PATHS:
        try:
            limit = int(params.get("limit", DEFAULT_KLINE_LIMIT))
        except ValueError:
            limit = DEFAULT_KLINE_LIMIT
        return kline_weight(limit)
    return _FIXED_WEIGHTS.get(path, 1)


class Verdict(Enum):
    """What the limiter decided about one request."""

    ALLOWED = "allowed"
    TOO_MANY = "too_many"  # 429
    BANNED = "banned"  # 418


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict on one request, with what goes into its headers."""

    verdict: Verdict
    used_weight: int
    """Weight used by this IP in the current window (after this request if allowed)."""
    retry_after_s: int = 0
    banned_until_ms: int = 0


@dataclass(slots=True)
class _IpState:
    window: int = -1
    used: int = 0
    refusals: int = 0
    banned_until_ms: int = 0


class WeightLimiter:
    """Per-IP request weight accounting in minute windows (not thread-safe: one event loop)."""

    def __init__(self, limit: int = DEFAULT_WEIGHT_LIMIT) -> None:
        if limit <= 0:
            raise ValueError(f"weight limit must be positive, got {limit}")
        self.limit = limit
        self._ips: dict[str, _IpState] = {}
        self._history: OrderedDict[int, dict[str, int]] = OrderedDict()

    def _state(self, ip: str, now_ms: int) -> _IpState:
        state = self._ips.setdefault(ip, _IpState())
        window = now_ms // WINDOW_MS
        if state.window != window:
            state.window, state.used, state.refusals = window, 0, 0
        return state

    def used(self, ip: str, now_ms: int) -> int:
        """Weight ``ip`` used in the window containing ``now_ms``."""
        return self._state(ip, now_ms).used

    def banned(self, ip: str, now_ms: int) -> Decision | None:
        """The 418 decision if ``ip`` is banned at ``now_ms``, else ``None``."""
        state = self._state(ip, now_ms)
        if state.banned_until_ms > now_ms:
            return self._banned(state, now_ms)
        return None

    def ban(self, ip: str, now_ms: int, seconds: float) -> Decision:
        """Ban ``ip`` for ``seconds`` from ``now_ms`` and return the 418 decision."""
        state = self._state(ip, now_ms)
        state.banned_until_ms = now_ms + math.ceil(seconds * 1000)
        return self._banned(state, now_ms)

    @staticmethod
    def _banned(state: _IpState, now_ms: int) -> Decision:
        return Decision(
            Verdict.BANNED,
            state.used,
            retry_after_s=max(1, math.ceil((state.banned_until_ms - now_ms) / 1000)),
            banned_until_ms=state.banned_until_ms,
        )

    def check(
        self, ip: str, weight: int, now_ms: int, *, ban_after_429s: int, ban_seconds: float
    ) -> Decision:
        """Charge ``weight`` to ``ip`` if the limit allows, else refuse (429) or ban (418)."""
        state = self._state(ip, now_ms)
        if state.banned_until_ms > now_ms:
            return self._banned(state, now_ms)
        if state.used + weight > self.limit:
            state.refusals += 1
            if state.refusals > ban_after_429s:
                return self.ban(ip, now_ms, ban_seconds)
            window_end = (state.window + 1) * WINDOW_MS
            return Decision(
                Verdict.TOO_MANY,
                state.used,
                retry_after_s=max(1, math.ceil((window_end - now_ms) / 1000)),
            )
        state.used += weight
        minute = state.window * WINDOW_MS
        per_ip = self._history.setdefault(minute, {})
        per_ip[ip] = state.used
        while len(self._history) > HISTORY_MINUTES:
            self._history.popitem(last=False)
        return Decision(Verdict.ALLOWED, state.used)

    def history(self) -> list[tuple[int, dict[str, int]]]:
        """Used weight per minute (start ms) and IP, oldest first."""
        return [(minute, dict(per_ip)) for minute, per_ip in self._history.items()]

    def reset(self) -> None:
        """Forget every window, refusal and ban."""
        self._ips.clear()
        self._history.clear()


FUNDING_RATE_PATH = "/fapi/v1/fundingRate"
FUNDING_RATE_WINDOW_MS = 300_000
DEFAULT_FUNDING_RATE_LIMIT = 500
"""``/fapi/v1/fundingRate``'s own limit: 500 requests per 5 minutes per IP."""


class RequestCounter:
    """Per-IP request counts in fixed windows (``/fapi/v1/fundingRate``'s 500 per 5 minutes)."""

    def __init__(self, limit: int, window_ms: int) -> None:
        if limit <= 0:
            raise ValueError(f"request limit must be positive, got {limit}")
        self.limit = limit
        self.window_ms = window_ms
        self._ips: dict[str, tuple[int, int]] = {}

    def check(self, ip: str, now_ms: int) -> int:
        """Count one request of ``ip``; ``0`` if allowed, else the seconds until the window
        ends (the request is refused and not counted)."""
        window = now_ms // self.window_ms
        seen_window, count = self._ips.get(ip, (window, 0))
        if seen_window != window:
            count = 0
        if count >= self.limit:
            return max(1, math.ceil(((window + 1) * self.window_ms - now_ms) / 1000))
        self._ips[ip] = (window, count + 1)
        return 0

    def reset(self) -> None:
        """Forget every window."""
        self._ips.clear()

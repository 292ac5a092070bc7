"""A per-minute request-weight budget shared by every request of one client.

Binance counts weight per IP in fixed windows that reset at the start of each UTC minute and
reports the count so far in ``X-MBX-USED-WEIGHT-1M``. The limiter mirrors that:

* **Window.** The current window is the UTC minute of ``clock.time() + offset``; ``offset`` is
  zero (local clock, NTP-synced hosts) unless the client measured the server clock with
  ``/fapi/v1/time`` (``BinanceClient.sync_server_time``).
* **Estimate.** Before each request the limiter adds its weight to the window's estimate; each
  response raises the estimate to the server's header when that is higher (other processes
  on the same IP, weight the server counted that we did not). The header is the truth; between
  responses the estimate runs ahead locally, so concurrent in-flight requests are counted too.
* **Skew tolerance.** A header is only trusted when the request was sent at least
  ``skew_tolerance`` seconds after the window began and answered at least that long before it
  ends: near a boundary the server may have counted it in the other minute. For the same reason
  a request waiting for the next window waits until ``skew_tolerance`` after the boundary.
* **Waiting.** ``acquire(weight)`` waits (FIFO, under an ``asyncio.Lock``) until the weight fits
  in the window's budget. A single request heavier than the whole budget may go first in an
  empty window, so nothing waits forever.
* **Slow-down and pauses.** ``slow_down()`` (after a 429) halves a budget factor (not below
  ``min_budget_factor``); after ``slowdown_seconds`` without another 429 it doubles back, step
  by step, to 1. ``pause_until(t)`` (Retry-After of 429/418) stops every request until ``t``.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from petrosa_backfiller.binance.clock import Clock, SystemClock

WINDOW_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class MinuteUsage:
    """Weight spent in one UTC minute.

    ``weight_sent``: the weight of requests this client sent; ``server_used``: the highest
    ``X-MBX-USED-WEIGHT-1M`` trusted for this minute (``None`` if none); ``weight_used``: the
    limiter's final estimate (``max`` of both, plus what was sent after the last header).
    """

    minute_start_ms: int
    requests: int
    weight_sent: int
    weight_used: int
    server_used: int | None
    budget: int
    effective_budget: int


class WeightLimiter:
    """Waits before each request until its weight fits in the current minute's budget."""

    def __init__(
        self,
        budget: int,
        *,
        clock: Clock | None = None,
        skew_tolerance: float = 0.5,
        slowdown_seconds: float = 120.0,
        min_budget_factor: float = 0.125,
        history_minutes: int = 1_440,
    ) -> None:
        if budget < 1:
            raise ValueError(f"weight budget must be at least 1, got {budget}")
        if not 0 <= skew_tolerance < WINDOW_SECONDS / 2:
            raise ValueError("skew_tolerance must be within [0, 30) seconds")
        self.budget = budget
        self.offset = 0.0
        """Seconds to add to the local clock to get the server's (see ``sync_server_time``)."""
        self._clock: Clock = clock or SystemClock()
        self._skew = skew_tolerance
        self._slowdown_seconds = slowdown_seconds
        self._min_factor = min_budget_factor
        self._lock = asyncio.Lock()
        self._window: float | None = None
        self._estimate = 0
        self._sent = 0
        self._server: int | None = None
        self._requests = 0
        self._factor = 1.0
        self._slow_until = 0.0
        self._paused_until = 0.0
        self._history: deque[MinuteUsage] = deque(maxlen=history_minutes)
        self.budget_wait_seconds = 0.0
        """Total time requests spent waiting for budget in a later minute."""
        self.pause_wait_seconds = 0.0
        """Total time requests spent waiting for a Retry-After pause or a ban to end."""

    @property
    def clock(self) -> Clock:
        """The clock the limiter waits on (the client shares it for back-off)."""
        return self._clock

    def now(self) -> float:
        """The server's time as the limiter believes it, epoch seconds."""
        return self._clock.time() + self.offset

    @property
    def budget_factor(self) -> float:
        """The slow-down factor: 1.0 normally, halved after each 429."""
        return self._factor

    @property
    def effective_budget(self) -> int:
        """The weight allowed per minute now: ``budget * budget_factor`` (at least 1)."""
        return max(1, math.floor(self.budget * self._factor))

    @property
    def paused_until(self) -> float:
        """Epoch seconds (server time) before which no request is sent."""
        return self._paused_until

    @property
    def used(self) -> int:
        """The weight estimate of the current minute."""
        self._roll(self.now())
        return self._estimate

    async def acquire(self, weight: int) -> None:
        """Wait until ``weight`` fits in the current minute, then count it as spent."""
        async with self._lock:
            while True:
                now = self.now()
                if now < self._paused_until:
                    wait = self._paused_until - now
                    self.pause_wait_seconds += wait
                    await self._clock.sleep(wait)
                    continue
                self._roll(now)
                self._recover(now)
                if self._estimate == 0 or self._estimate + weight <= self.effective_budget:
                    self._estimate += weight
                    self._sent += weight
                    self._requests += 1
                    return
                assert self._window is not None  # set by _roll
                wait = self._window + WINDOW_SECONDS + self._skew - now
                self.budget_wait_seconds += wait
                await self._clock.sleep(wait)

    def observe(self, used_weight: int | None, sent_at: float, received_at: float) -> None:
        """Take the server's ``X-MBX-USED-WEIGHT-1M`` of a request sent/answered at these times.

        Times are server-time estimates (:meth:`now`) taken around the request.
        """
        if used_weight is None:
            return
        self._roll(received_at)
        window = self._window
        if window is None or received_at - window >= WINDOW_SECONDS:
            return
        if sent_at >= window + self._skew and received_at < window + WINDOW_SECONDS - self._skew:
            self._server = max(self._server or 0, used_weight)
            self._estimate = max(self._estimate, used_weight)

    def slow_down(self) -> None:
        """Halve the budget for a while (after a 429)."""
        self._factor = max(self._min_factor, self._factor / 2)
        self._slow_until = self.now() + self._slowdown_seconds

    def pause_until(self, until: float) -> None:
        """Send nothing before ``until`` (epoch seconds, server time); pauses only extend."""
        self._paused_until = max(self._paused_until, until)

    def next_window_start(self) -> float:
        """Epoch seconds at which the next minute begins, plus the skew tolerance."""
        now = self.now()
        return math.floor(now / WINDOW_SECONDS) * WINDOW_SECONDS + WINDOW_SECONDS + self._skew

    def history(self) -> list[MinuteUsage]:
        """Finished minutes with traffic (oldest first), then the current minute so far."""
        self._roll(self.now())
        minutes = list(self._history)
        if self._window is not None and (self._requests or self._server is not None):
            minutes.append(self._snapshot())
        return minutes

    def _snapshot(self) -> MinuteUsage:
        assert self._window is not None
        return MinuteUsage(
            minute_start_ms=round(self._window * 1000),
            requests=self._requests,
            weight_sent=self._sent,
            weight_used=self._estimate,
            server_used=self._server,
            budget=self.budget,
            effective_budget=self.effective_budget,
        )

    def _roll(self, now: float) -> None:
        window = math.floor(now / WINDOW_SECONDS) * WINDOW_SECONDS
        if self._window is not None and window <= self._window:
            return
        if self._window is not None and (self._requests or self._server is not None):
            self._history.append(self._snapshot())
        self._window = window
        self._estimate = 0
        self._sent = 0
        self._server = None
        self._requests = 0

    def _recover(self, now: float) -> None:
        if self._factor < 1.0 and now >= self._slow_until:
            self._factor = min(1.0, self._factor * 2)
            self._slow_until = now + self._slowdown_seconds


class RequestWindow:
    """At most ``limit`` requests per fixed window of ``seconds`` on a server-aligned clock:
    Binance's separate request-count limits (``/fapi/v1/fundingRate``: 500 per 5 minutes per
    IP), shared by every job of the process."""

    def __init__(self, limit: int, seconds: float, now: Callable[[], float], clock: Clock) -> None:
        if limit <= 0:
            raise ValueError(f"request limit must be positive, got {limit}")
        self.limit = limit
        self._seconds = seconds
        self._now = now
        self._clock = clock
        self._window = -1
        self._count = 0

    async def acquire(self) -> None:
        """Wait until the current window has room, then count one request in it."""
        while True:
            now = self._now()
            window = int(now // self._seconds)
            if window != self._window:
                self._window, self._count = window, 0
            if self._count < self.limit:
                self._count += 1
                return
            await self._clock.sleep((window + 1) * self._seconds - now)


__all__ = ["MinuteUsage", "RequestWindow", "WeightLimiter"]

"""Time as the client sees it: a wall clock and a way to wait, injectable for tests.

The limiter needs wall-clock (epoch) time because Binance's weight window is the UTC minute.
:class:`ManualClock` is a virtual clock for tests (like ``httpx.MockTransport`` for HTTP): a
``sleep`` returns at once with the time advanced, so minutes of rate limiting take milliseconds.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol


class Clock(Protocol):
    """Wall-clock seconds since the epoch, and an awaitable pause."""

    def time(self) -> float:
        """Seconds since the Unix epoch (UTC)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (non-positive: just yield)."""
        ...


class SystemClock:
    """The real clock: ``time.time`` and ``asyncio.sleep``."""

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ManualClock:
    """Virtual time for tests: sleepers wake in deadline order, each advancing the clock.

    A sleeper first lets the other runnable tasks run (``settle`` loop turns); then the one
    with the earliest deadline moves the time to that deadline and returns. ``sleeps``
    records every requested pause, for assertions.
    """

    def __init__(self, start: float = 1_704_067_200.0, *, settle: int = 20) -> None:
        self._now = start
        self._settle = settle
        self._waiters: list[tuple[float, int]] = []
        self._seq = itertools.count()
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the time forward without sleeping (e.g. to simulate request latency)."""
        self._now += max(0.0, seconds)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        entry = (self._now + max(0.0, seconds), next(self._seq))
        heapq.heappush(self._waiters, entry)
        try:
            while True:
                for _ in range(self._settle):
                    await asyncio.sleep(0)
                if self._waiters[0] == entry:
                    heapq.heappop(self._waiters)
                    self._now = max(self._now, entry[0])
                    return
        except BaseException:
            if entry in self._waiters:
                self._waiters.remove(entry)
                heapq.heapify(self._waiters)
            raise


__all__ = ["Clock", "ManualClock", "SystemClock"]

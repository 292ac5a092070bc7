"""Exponential back-off with jitter for retrying database writes."""

from __future__ import annotations

import random


class Backoff:
    """Doubles the delay on every failure up to ``maximum``; ``reset()`` after a success."""

    def __init__(self, initial: float, maximum: float) -> None:
        self._initial = initial
        self._maximum = maximum
        self._failures = 0

    def next_delay(self) -> float:
        """Record a failure and return how long to wait (with ±20 % jitter)."""
        delay: float = min(self._maximum, self._initial * 2.0**self._failures)
        self._failures += 1
        jitter: float = random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not security
        return delay * jitter

    def reset(self) -> None:
        """Record a success."""
        self._failures = 0

    @property
    def failures(self) -> int:
        """Consecutive failures so far."""
        return self._failures

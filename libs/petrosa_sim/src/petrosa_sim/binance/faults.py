"""Switches that make the fake Binance misbehave on purpose (for client tests)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True, slots=True)
class BinanceFaults:
    """Injected failures and rate-limit behaviour; every switch is off by default.

    Counters make injections deterministic: "every N-th" counts market-data requests
    (``/fapi/...``) from 1, across all clients. Injected failures cost no request weight.

    - ``status_429_every``: every N-th request is refused with 429 and ``Retry-After:
      retry_after_seconds`` (0 = off). Injected 429s never lead to a ban.
    - ``status_418_once``: the next request bans its IP for ``ban_seconds`` (418); the switch
      then turns itself off.
    - ``status_5xx_every`` / ``status_5xx_rate``: every N-th request, or a share of requests
      drawn from a generator seeded with the server's seed, fails with ``status_5xx_code``.
    - ``latency_ms``: delay added before every market-data response.
    - ``ban_seconds``: length of an IP ban (418), injected or earned.
    - ``ban_after_429s``: refusals for exceeding the weight limit tolerated in one window
      before the IP is banned (requests already in flight when the first 429 came back
      should not earn a ban, so the default tolerates a few).
    """

    status_429_every: int = 0
    retry_after_seconds: int = 1
    status_418_once: bool = False
    status_5xx_every: int = 0
    status_5xx_rate: float = 0.0
    status_5xx_code: int = 503
    latency_ms: float = 0.0
    ban_seconds: float = 120.0
    ban_after_429s: int = 3

    def __post_init__(self) -> None:
        for name in ("status_429_every", "status_5xx_every", "ban_after_429s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.retry_after_seconds < 1:
            raise ValueError("retry_after_seconds must be at least 1")
        if not 0.0 <= self.status_5xx_rate <= 1.0:
            raise ValueError("status_5xx_rate must be within [0, 1]")
        if not 500 <= self.status_5xx_code <= 599:
            raise ValueError("status_5xx_code must be a 5xx status")
        if self.latency_ms < 0 or self.ban_seconds < 0:
            raise ValueError("latency_ms and ban_seconds must not be negative")

    def updated(self, changes: Mapping[str, Any]) -> BinanceFaults:
        """A copy with ``changes`` applied (JSON values; unknown names or bad types raise
        ``ValueError``)."""
        known = {f.name: f for f in fields(self)}
        unknown = sorted(set(changes) - set(known))
        if unknown:
            raise ValueError(f"unknown fault switches {unknown}; known: {sorted(known)}")
        typed: dict[str, Any] = {}
        for name, value in changes.items():
            kind = type(getattr(self, name))
            if kind is bool:
                if not isinstance(value, bool):
                    raise ValueError(f"{name} must be true or false")
            elif isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number")
            elif kind is int:
                if value != int(value):
                    raise ValueError(f"{name} must be an integer")
                value = int(value)
            typed[name] = kind(value)
        return dataclasses.replace(self, **typed)

    def as_dict(self) -> dict[str, Any]:
        """The switches as JSON-ready values."""
        return dataclasses.asdict(self)

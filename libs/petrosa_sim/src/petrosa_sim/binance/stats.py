"""What the fake Binance served, for ``GET /_fake/stats`` and tests."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from petrosa_sim.binance.limits import WeightLimiter

LOG_CAPACITY = 100_000


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """One served market-data request."""

    at_ms: int
    """Server time when the request arrived (before any injected latency)."""
    path: str
    params: dict[str, str]
    status: int

    def as_dict(self) -> dict[str, Any]:
        """JSON view."""
        return {
            "at_ms": self.at_ms,
            "path": self.path,
            "params": self.params,
            "status": self.status,
        }


@dataclass(slots=True)
class FakeStats:
    """Counters of served market-data requests (admin requests are not counted)."""

    requests: int = 0
    by_endpoint: Counter[str] = field(default_factory=Counter)
    by_status: Counter[int] = field(default_factory=Counter)
    injected: Counter[str] = field(default_factory=Counter)
    """Injected failures by kind: ``"429"``, ``"418"``, ``"5xx"``."""
    bans: int = 0
    """IP bans started (earned or injected)."""
    log: deque[LoggedRequest] = field(default_factory=lambda: deque(maxlen=LOG_CAPACITY))
    """The latest served requests, oldest first (``GET /_fake/requests``)."""

    def logged(self, at_ms: int, path: str, params: dict[str, str], status: int) -> None:
        """Remember one served request."""
        self.log.append(LoggedRequest(at_ms, path, params, status))

    def served(self, status: int) -> None:
        """Count one response with ``status``."""
        self.by_status[status] += 1

    def as_dict(self, limiter: WeightLimiter) -> dict[str, Any]:
        """JSON view, with the used weight per minute from ``limiter``."""
        weights = [sum(per_ip.values()) for _, per_ip in limiter.history()]
        minutes = [
            {
                "minute_ms": minute,
                "minute": datetime.fromtimestamp(minute / 1000, tz=UTC)
                .isoformat()
                .replace("+00:00", "Z"),
                "weight": weight,
                "by_ip": per_ip,
            }
            for (minute, per_ip), weight in zip(limiter.history(), weights, strict=True)
        ]
        status = self.by_status
        return {
            "requests": self.requests,
            "by_endpoint": dict(self.by_endpoint),
            "by_status": {str(code): n for code, n in sorted(status.items())},
            "status_429": status[429],
            "status_418": status[418],
            "status_5xx": sum(n for code, n in status.items() if 500 <= code <= 599),
            "injected": {kind: self.injected[kind] for kind in ("429", "418", "5xx")},
            "bans": self.bans,
            "weight_limit": limiter.limit,
            "weight_per_minute": minutes,
            "max_weight_per_minute": max(weights, default=0),
        }

"""Settings of petrosa-auditor (names and defaults of the auditor design)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal, Self

from petrosa_common.naming import DatasetKind
from petrosa_common.settings import LeaderElectionSettings, split_csv
from petrosa_common.time import parse_duration
from petrosa_common.timeframes import is_timeframe
from pydantic import BeforeValidator, Field, field_validator, model_validator
from pydantic_settings import NoDecode

from petrosa_auditor.retention import ANALYTICS_HISTORY_KIND, DEAD_LETTERS_KIND

_KEEP_EVERYTHING = frozenset({"", "0", "off", "none", "keep"})


def _horizon(value: object) -> timedelta | None:
    """``7d``, ``10m``, ``3600`` (seconds)...; ``off``/``none``/``keep``/``0`` keep everything."""
    if value is None or isinstance(value, timedelta):
        return value
    if isinstance(value, str) and value.strip().lower() in _KEEP_EVERYTHING:
        return None
    if not isinstance(value, str | int | float):
        raise ValueError(f"not a duration: {value!r}")
    horizon = parse_duration(value)
    return horizon or None


Horizon = Annotated[timedelta | None, BeforeValidator(_horizon)]
"""A retention horizon: documents older than it are deleted; ``None`` keeps everything."""


class AuditorSettings(LeaderElectionSettings):
    """Audit cycle, gap rules, duplicates, auto-backfill and leader election."""

    audit_interval: float = Field(300, gt=0, description="Seconds between audit cycles")
    audit_timeframes: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["1m", "5m", "15m", "1h", "4h", "1d"],
        description="Candle timeframes audited, comma-separated",
    )
    audit_lookback: float = Field(
        86_400, gt=0, description="Seconds of history each cycle audits (ending now)"
    )
    audit_concurrency: int = Field(8, ge=1, le=64, description="Series audited concurrently")
    audit_count_refresh_seconds: float = Field(
        3600,
        ge=0,
        description="How often the leader refreshes each dataset's total record count, after "
        "a cycle (0: after every cycle); O(1) on MongoDB, a scan on some MongoDB-wire servers",
    )
    audit_agg_trades_lookback: float = Field(
        3600,
        ge=0,
        description="Seconds of aggregate trades whose id sequence is checked for holes (0: off)",
    )
    gap_tolerance_seconds: float = Field(
        60, ge=0, description="Lateness of a candle that is not yet a gap"
    )
    min_gap_size_seconds: float = Field(120, ge=0, description="Smallest gap reported")
    enable_duplicate_removal: bool = Field(
        False, description="Remove duplicates (else detect only)"
    )
    duplicate_resolution_strategy: Literal["keep_newest", "keep_oldest", "manual"] = Field(
        "keep_newest", description="Which copy survives a removal; manual = detect only"
    )
    enable_auto_backfill: bool = Field(
        False, description="Request backfills for large gaps on data_manager.backfill.request"
    )
    min_auto_backfill_gap: float = Field(
        3600, ge=0, description="Smallest gap (seconds) that triggers an auto-backfill"
    )
    max_auto_backfill_jobs: int = Field(
        5, ge=0, description="Auto-backfill requests pending at most at once"
    )
    auto_backfill_retry_after: float = Field(
        3600, gt=0, description="Seconds after which a still-open gap may be requested again"
    )

    retention_enabled: bool = Field(
        True, description="Run retention (as leader) every RETENTION_INTERVAL"
    )
    retention_interval: float = Field(300, gt=0, description="Seconds between retention runs")
    retention_batch_size: int = Field(
        5000, ge=1, le=100_000, description="Documents deleted per batch (one fenced delete)"
    )
    retention_pause_ratio: float = Field(
        1.0,
        ge=0,
        le=100,
        description="After each retention query, wait this multiple of its duration before the"
        " next (0: no pause), so a run leaves the database to other clients part of the time",
    )
    retention_max_batches: int = Field(
        100,
        ge=1,
        description="Batches per collection per run; the rest waits for the next run",
    )
    retention_trades: Horizon = Field(
        timedelta(days=7), description="Trades older than this are deleted (off: keep all)"
    )
    retention_agg_trades: Horizon = Field(
        timedelta(days=7), description="Aggregate trades older than this are deleted"
    )
    retention_depth: Horizon = Field(
        timedelta(days=2), description="Order book snapshots older than this are deleted"
    )
    retention_tickers: Horizon = Field(
        timedelta(days=7), description="24 h tickers older than this are deleted"
    )
    retention_mark_prices: Horizon = Field(
        timedelta(days=7), description="Mark prices older than this are deleted"
    )
    retention_funding_rates: Horizon = Field(
        None, description="Funding rates older than this are deleted (default: keep all)"
    )
    retention_candles: Horizon = Field(
        None,
        description="Candles older than this are deleted (default: keep all; at least "
        "AUDIT_LOOKBACK, or the audit would backfill what retention deletes)",
    )
    retention_dead_letters: Horizon = Field(
        timedelta(days=30), description="Dead letters older than this are deleted"
    )
    retention_analytics_history: Horizon = Field(
        timedelta(days=90), description="Analytics results older than this leave the history"
    )

    def retention_horizons(self) -> dict[str, timedelta | None]:
        """Horizon by retention kind: each dataset kind, dead letters, analytics history."""
        return {
            DatasetKind.TRADES: self.retention_trades,
            DatasetKind.AGG_TRADES: self.retention_agg_trades,
            DatasetKind.DEPTH: self.retention_depth,
            DatasetKind.TICKERS: self.retention_tickers,
            DatasetKind.MARK_PRICES: self.retention_mark_prices,
            DatasetKind.FUNDING_RATES: self.retention_funding_rates,
            DatasetKind.CANDLES: self.retention_candles,
            DEAD_LETTERS_KIND: self.retention_dead_letters,
            ANALYTICS_HISTORY_KIND: self.retention_analytics_history,
        }

    @model_validator(mode="after")
    def _retention_covers_the_audit(self) -> Self:
        # Deleting candles the audit still checks would open gaps that it then backfills,
        # forever. (Agg trades need no such rule: retention deletes the oldest, a prefix, so
        # the id audit never sees a hole it made.)
        horizon = self.retention_candles
        if horizon is not None and horizon.total_seconds() < self.audit_lookback:
            raise ValueError(
                f"RETENTION_CANDLES ({horizon}) is shorter than AUDIT_LOOKBACK"
                f" ({self.audit_lookback:g} s)"
            )
        return self

    @field_validator("audit_timeframes", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return split_csv(value)

    @field_validator("audit_timeframes")
    @classmethod
    def _check(cls, timeframes: list[str]) -> list[str]:
        bad = [tf for tf in timeframes if not is_timeframe(tf) or tf == "1M"]
        if bad:
            raise ValueError(f"not auditable timeframes: {', '.join(bad)}")
        return timeframes

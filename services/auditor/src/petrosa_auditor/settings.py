"""Settings of petrosa-auditor (names and defaults of the auditor design)."""

from __future__ import annotations

from typing import Annotated, Literal

from petrosa_common.settings import LeaderElectionSettings, split_csv
from petrosa_common.timeframes import is_timeframe
from pydantic import Field, field_validator
from pydantic_settings import NoDecode


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

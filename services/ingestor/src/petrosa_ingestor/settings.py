"""Settings of petrosa-ingestor."""

from __future__ import annotations

from typing import Annotated, Literal

from petrosa_common.naming import MARKET_DATA_SUBJECT, is_symbol
from petrosa_common.parser import FrameLimits
from petrosa_common.settings import CommonSettings, split_csv
from pydantic import Field, field_validator
from pydantic_settings import NoDecode


class IngestorSettings(CommonSettings):
    """Where market data comes from and how it is batched into MongoDB."""

    nats_consumer_subject: str = Field(
        MARKET_DATA_SUBJECT, description="Subject the socket client publishes frames on"
    )
    ingest_mode: Literal["jetstream", "core"] = Field(
        "jetstream",
        description="jetstream: durable pull consumer, at-least-once; core: queue-group "
        "subscription, at-most-once (messages published while the ingestor is down are lost)",
    )
    nats_stream_name: str = Field("MARKET_DATA", description="JetStream stream capturing frames")
    nats_stream_max_age_seconds: float = Field(
        86_400, gt=0, description="Stream retention by age (seconds)"
    )
    nats_stream_max_bytes: int = Field(
        10 * 1024**3, gt=0, description="Stream retention by size (bytes)"
    )
    nats_durable_name: str = Field("data-manager-ingestor", description="Durable consumer name")
    nats_queue_group: str = Field(
        "data-manager-ingestor", description="Queue group for INGEST_MODE=core"
    )
    ingest_batch_size: int = Field(1000, ge=1, le=10_000, description="Messages per fetch/batch")
    ingest_fetch_timeout: float = Field(
        0.5, gt=0, description="Seconds a fetch waits for a full batch before taking what came"
    )
    ingest_max_inflight_batches: int = Field(
        4,
        ge=1,
        le=16,
        description="Batches being written concurrently (keeps the database busy while the "
        "next batches are parsed; 4 measured best, see bench/ingest.py)",
    )
    ingest_ack_wait_seconds: float = Field(
        30, gt=0, description="Seconds before an unacknowledged message is redelivered"
    )
    ingest_retry_initial_backoff: float = Field(
        0.2, gt=0, description="First back-off (seconds) after a database error"
    )
    ingest_retry_max_backoff: float = Field(
        10, gt=0, description="Longest back-off (seconds) after repeated database errors"
    )
    ingest_lag_poll_interval: float = Field(
        5, gt=0, description="Seconds between consumer-lag metric updates"
    )
    ingest_max_deliver: int = Field(
        5,
        ge=1,
        le=1000,
        description="Deliveries after which a message is dead-lettered unread (reason "
        "max_deliveries) and terminated. Database outages are retried in process and do not "
        "count; crashes and ack-wait expiries do",
    )
    ingest_symbols: Annotated[list[str] | None, NoDecode] = Field(
        None,
        description="Allow-list of symbols to store, comma-separated (unset: every symbol that "
        "matches Binance's pattern); frames of other symbols are dead-lettered (unknown_symbol)",
    )
    ingest_max_book_levels: int = Field(
        1000, ge=1, le=100_000, description="Most levels per side of a stored depth frame"
    )

    @field_validator("ingest_symbols", mode="before")
    @classmethod
    def _split_symbols(cls, value: object) -> object:
        return split_csv(value)

    @field_validator("ingest_symbols")
    @classmethod
    def _check_symbols(cls, symbols: list[str] | None) -> list[str] | None:
        if symbols is None:
            return None
        upper = [symbol.upper() for symbol in symbols]
        bad = [symbol for symbol in upper if not is_symbol(symbol)]
        if bad or not upper:
            raise ValueError(f"not Binance symbols: {', '.join(bad) or '(empty list)'}")
        return upper

    def frame_limits(self) -> FrameLimits:
        """The parser's deployment rules from these settings."""
        symbols = None if self.ingest_symbols is None else frozenset(self.ingest_symbols)
        return FrameLimits(symbols=symbols, max_book_levels=self.ingest_max_book_levels)

"""Settings of petrosa-backfiller."""

from __future__ import annotations

from collections.abc import Callable

from petrosa_common.backfill_jobs import JobBackoff
from petrosa_common.settings import CommonSettings
from pydantic import Field

from petrosa_backfiller.binance import BinanceClient, RequestRecord


class BackfillerSettings(CommonSettings):
    """Binance REST access, rate-limit budget and job workers."""

    binance_fapi_base_url: str = Field(
        "https://fapi.binance.com", description="Binance USDⓈ-M futures REST base URL"
    )
    binance_api_key: str | None = Field(
        None, description="Optional X-MBX-APIKEY (market data endpoints need none)"
    )
    binance_weight_budget: int = Field(
        2000, gt=0, le=2400, description="Request weight per minute this process may use"
    )
    binance_funding_rate_budget_5m: int = Field(
        450,
        gt=0,
        le=500,
        description="/fapi/v1/fundingRate requests per 5 minutes (Binance allows 500 per IP)",
    )
    binance_klines_limit: int = Field(
        1500,
        ge=1,
        le=1500,
        description="Candles per klines request: 1500 fewest requests, 499 least weight/candle",
    )
    max_concurrent_backfill_jobs: int = Field(2, ge=1, le=16, description="Jobs run at once")
    backfill_claim_lease_seconds: float = Field(
        60, gt=0, description="A claimed job returns to the queue if not checkpointed this long"
    )
    backfill_poll_seconds: float = Field(
        1.0, gt=0, description="Seconds between queue polls when idle"
    )
    backfill_retry_initial_seconds: float = Field(
        5.0, gt=0, description="Back-off after a job's first transient failure (doubles after)"
    )
    backfill_retry_max_seconds: float = Field(
        300.0, gt=0, description="Longest back-off between a job's attempts"
    )

    def job_backoff(self) -> JobBackoff:
        """The back-off of jobs given back after a transient failure."""
        return JobBackoff(self.backfill_retry_initial_seconds, self.backfill_retry_max_seconds)

    def binance_client(
        self, on_response: Callable[[RequestRecord], None] | None = None
    ) -> BinanceClient:
        """A Binance client with these URL, key, budgets and klines page size."""
        return BinanceClient(
            self.binance_fapi_base_url,
            api_key=self.binance_api_key,
            weight_budget=self.binance_weight_budget,
            funding_rate_budget_5m=self.binance_funding_rate_budget_5m,
            klines_limit=self.binance_klines_limit,
            on_response=on_response,
        )

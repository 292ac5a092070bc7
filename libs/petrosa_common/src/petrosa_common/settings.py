"""Settings shared by every service (environment variables, seed names and defaults).

Each service extends :class:`CommonSettings` with its own fields; nothing reads
``os.environ`` directly.
"""

from __future__ import annotations

import socket
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from petrosa_common.naming import is_symbol

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


def split_csv(value: object) -> object:
    """Accept ``"A,B"`` as well as a list for list-valued settings."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class CommonSettings(BaseSettings):
    """Connection, logging and observability settings every service needs."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    nats_url: str = Field(
        "nats://localhost:4222", description="NATS server URL(s), comma-separated"
    )
    mongodb_url: str = Field("mongodb://localhost:27017", description="MongoDB connection string")
    mongodb_database: str = Field("petrosa_data_manager", description="MongoDB database name")
    postgres_url: str = Field(
        "postgresql://postgres@localhost:5432/petrosa", description="PostgreSQL connection string"
    )
    postgres_pool_min_size: int = Field(1, ge=0, description="PostgreSQL pool minimum size")
    postgres_pool_max_size: int = Field(10, ge=1, description="PostgreSQL pool maximum size")
    log_level: LogLevel = Field("INFO", description="Log level")
    metrics_port: int = Field(9090, ge=0, le=65535, description="Prometheus metrics port (0: off)")
    health_port: int = Field(8080, ge=0, le=65535, description="Health HTTP port of workers")
    pod_id: str = Field(
        default_factory=lambda: f"{socket.gethostname()}",
        description="Identity of this process in leases and logs (default: host name)",
    )
    supported_pairs: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT"],
        description="Symbols the auditor and analytics cover, comma-separated",
    )

    @field_validator("supported_pairs", mode="before")
    @classmethod
    def _split_pairs(cls, value: object) -> object:
        return split_csv(value)

    @field_validator("supported_pairs")
    @classmethod
    def _check_pairs(cls, pairs: list[str]) -> list[str]:
        upper = [pair.upper() for pair in pairs]
        bad = [pair for pair in upper if not is_symbol(pair)]
        if bad:
            raise ValueError(f"not Binance symbols: {', '.join(bad)}")
        return upper


class LeaderElectionSettings(CommonSettings):
    """Settings of a service whose scheduled work runs on one leader (auditor, analytics)."""

    enable_leader_election: bool = Field(
        True, description="MongoDB lease election (false: this process is always leader)"
    )
    leader_election_heartbeat_interval: float = Field(
        10, gt=0, description="Seconds between lease renewals / follower attempts"
    )
    leader_election_timeout: float = Field(30, gt=0, description="Lease duration (seconds)")

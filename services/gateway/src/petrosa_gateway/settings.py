"""Settings of petrosa-gateway."""

from __future__ import annotations

from typing import Annotated

import orjson
from petrosa_common.settings import CommonSettings, split_csv
from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from petrosa_gateway.schemas import CompatibilityMode
from petrosa_gateway.security import Scope


class GatewaySettings(CommonSettings):
    """HTTP server, security and query limits of the gateway."""

    api_host: str = Field("0.0.0.0", description="Address the API listens on")
    api_port: int = Field(8000, ge=1, le=65535, description="API port (REST, /docs, /metrics)")
    api_dev_mode: bool = Field(
        False,
        description="Development mode: no API key needed, every scope granted (never in "
        "production; compose sets it so the README's curl examples work)",
    )
    api_keys: Annotated[dict[str, list[Scope]], NoDecode] = Field(
        default_factory=dict,
        description='API keys and their scopes as JSON: {"<key>": ["read", "write"], ...}; '
        "admin implies write, write implies read",
    )
    api_require_key_for_reads: bool = Field(
        False,
        description="Also require a key with the read scope for data and CRUD reads "
        "(writes, raw queries and schema changes always need one)",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Origins allowed by CORS, comma-separated (* for any)"
    )
    max_request_bytes: int = Field(
        10 * 1024**2, gt=0, description="Largest request body accepted (413 above)"
    )
    raw_query_timeout_ms: int = Field(
        5000, gt=0, description="Statement timeout of raw SQL / maxTimeMS of raw MongoDB queries"
    )
    query_timeout_seconds: float = Field(
        30, gt=0, description="Deadline of data and CRUD reads (504 after it)"
    )
    raw_query_max_rows: int = Field(10_000, gt=0, description="Row cap of raw query results")
    nats_query_enabled: bool = Field(
        True, description="Answer data_manager.query.* requests over NATS (needs NATS)"
    )
    analytics_request_timeout: float = Field(
        20,
        gt=0,
        description="Seconds an on-demand /analysis/* result may take in petrosa-analytics "
        "(504 after it)",
    )

    schema_validation_enabled: bool = Field(
        True,
        description="Check records against registered schemas (/schemas/validate, CRUD "
        "?validate=true); false turns checking off with a logged warning",
    )
    schema_strict_mode: bool = Field(
        False,
        description="An unknown schema or fields a schema does not name fail validation "
        "(otherwise they pass with a warning)",
    )
    schema_cache_ttl: float = Field(
        300, ge=0, description="Seconds a schema stays in the registry cache (0: no cache)"
    )
    schema_auto_register: bool = Field(
        False, description="Bootstrap the eight common schemas at start-up"
    )
    schema_max_versions: int = Field(
        10, ge=1, description="Non-deleted versions a schema may have (409 beyond)"
    )
    schema_compatibility_mode: CompatibilityMode = Field(
        CompatibilityMode.BACKWARD,
        description="Compatibility mode of schemas without their own (NONE, BACKWARD, "
        "BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE)",
    )

    @field_validator("api_keys", mode="before")
    @classmethod
    def _parse_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return orjson.loads(value) if value.strip() else {}
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        return split_csv(value)

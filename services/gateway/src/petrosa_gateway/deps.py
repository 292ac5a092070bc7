"""Typed FastAPI dependencies: databases, NATS, settings, and scope checks."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from nats.aio.client import Client as NatsClient
from petrosa_common.mongo import Document
from petrosa_common.postgres import PgPool
from pymongo.asynchronous.database import AsyncDatabase

from petrosa_gateway.resources import Resources
from petrosa_gateway.security import Scope, presented_key
from petrosa_gateway.settings import GatewaySettings


def get_resources(request: Request) -> Resources:
    """The gateway's open resources (set up by the app lifespan)."""
    resources: Resources = request.app.state.resources
    return resources


ResourcesDep = Annotated[Resources, Depends(get_resources)]


def get_settings(resources: ResourcesDep) -> GatewaySettings:
    """The gateway settings."""
    return resources.settings


def get_mongo_db(resources: ResourcesDep) -> AsyncDatabase[Document]:
    """The MongoDB database."""
    return resources.db


def get_pg_pool(resources: ResourcesDep) -> PgPool:
    """The PostgreSQL pool."""
    return resources.pg


def get_nats(resources: ResourcesDep) -> NatsClient | None:
    """The NATS connection, once made (``None`` before, or with NATS off)."""
    return resources.nats


SettingsDep = Annotated[GatewaySettings, Depends(get_settings)]
NatsDep = Annotated[NatsClient | None, Depends(get_nats)]
MongoDep = Annotated[AsyncDatabase[Document], Depends(get_mongo_db)]
PgDep = Annotated[PgPool, Depends(get_pg_pool)]

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="ApiKey")
_bearer = HTTPBearer(auto_error=False, scheme_name="Bearer")


class RequireScope:
    """Dependency: the request's API key must carry ``scope`` (401 missing/unknown, 403 scope).

    ``read_only_endpoint`` checks are enforced only when ``API_REQUIRE_KEY_FOR_READS`` is on.
    """

    def __init__(self, scope: Scope, *, read_only_endpoint: bool = False) -> None:
        self.scope = scope
        self.read_only_endpoint = read_only_endpoint

    def __call__(
        self,
        resources: ResourcesDep,
        api_key: Annotated[str | None, Security(_api_key_header)] = None,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
    ) -> None:
        if self.read_only_endpoint and not resources.settings.api_require_key_for_reads:
            return
        token = bearer.credentials if bearer else None
        resources.keys.require(
            presented_key(api_key, f"Bearer {token}" if token else None), self.scope
        )


ReadAccess = Depends(RequireScope(Scope.READ, read_only_endpoint=True))
WriteAccess = Depends(RequireScope(Scope.WRITE))
AdminAccess = Depends(RequireScope(Scope.ADMIN))

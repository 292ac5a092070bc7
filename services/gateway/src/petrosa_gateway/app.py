"""create_app(settings): the FastAPI application, its lifespan and its error mapping."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import psycopg_pool
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from petrosa_common.logging import get_logger
from petrosa_common.metrics import NATS_CONNECTION_STATUS
from petrosa_common.mongo import create_mongo_client
from petrosa_common.nats import connect_nats
from petrosa_common.postgres import apply_migrations, create_pg_pool
from pymongo.errors import ConnectionFailure, ServerSelectionTimeoutError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import compile_path

from petrosa_gateway.docs_pages import add_docs_pages
from petrosa_gateway.errors import GatewayError, describe_errors
from petrosa_gateway.metrics import record_error
from petrosa_gateway.middleware import GatewayMiddleware
from petrosa_gateway.nats_api import start_query_service
from petrosa_gateway.pools import refresh_pool_gauges
from petrosa_gateway.registry import Database, Registry, build_registry
from petrosa_gateway.registry.bootstrap import bootstrap, common_items
from petrosa_gateway.resources import MongoPoolStats, Resources
from petrosa_gateway.responses import FastJSONResponse
from petrosa_gateway.routes import analysis, backfill, crud, data, health, metrics, raw
from petrosa_gateway.routes import catalog as catalog_routes
from petrosa_gateway.routes import schemas as schema_routes
from petrosa_gateway.security import ApiKeys
from petrosa_gateway.settings import GatewaySettings

log = get_logger(__name__)
SERVICE_NAME = "petrosa-gateway"

DESCRIPTION = """
Data access for dashboards, strategies and the trade engine: market data, generic CRUD on
MongoDB and PostgreSQL, guarded raw queries, health of the data and of the service.

Writes need an API key with the `write` scope, raw queries the `admin` scope (send
`X-API-Key: <key>` or `Authorization: Bearer <key>`). Every error is
`{"error": "<code>", "detail": "<reason>"}` (a 422 also lists `errors`).

Inputs are held to one set of rules: integers in 64 bits (offsets up to 2^53 - 1), no
control characters in string parameters, filters or field names, dates in the years
1970-9999, field names written by CRUD without `$` at the start, `.` or control characters.
"""


def create_app(settings: GatewaySettings) -> FastAPI:
    """The gateway application (resources open in its lifespan)."""
    app = FastAPI(
        title="Petrosa Data Manager API",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=_lifespan,
        default_response_class=FastJSONResponse,
        docs_url=None,  # served from packaged assets below: the defaults need a CDN
        redoc_url=None,
    )
    add_docs_pages(app, title=app.title)
    app.state.settings = settings
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["X-API-Key", "Authorization", "Content-Type"],
        )
    app.add_middleware(GatewayMiddleware, max_request_bytes=settings.max_request_bytes)
    # raw before crud: /api/v1/raw/... must not be read as database "raw".
    for module in (health, data, analysis, backfill, raw, crud, metrics):
        app.include_router(module.router)
    app.include_router(catalog_routes.router)
    app.include_router(schema_routes.router)
    _add_error_handlers(app)
    return app


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: GatewaySettings = app.state.settings
    if settings.api_dev_mode:
        log.warning("api_dev_mode_enabled", detail="no API key is needed for any operation")
    pool_stats = MongoPoolStats()
    mongo = create_mongo_client(
        settings.mongodb_url, app_name=SERVICE_NAME, event_listeners=[pool_stats]
    )
    pg = await create_pg_pool(
        settings.postgres_url,
        min_size=settings.postgres_pool_min_size,
        max_size=settings.postgres_pool_max_size,
        wait=False,
    )
    resources = Resources(
        settings=settings,
        mongo=mongo,
        db=mongo[settings.mongodb_database],
        pg=pg,
        keys=ApiKeys(settings.api_keys, dev_mode=settings.api_dev_mode),
        mongo_pool=pool_stats,
    )
    app.state.resources = resources
    registry = app.state.schema_registry = build_registry(resources)
    if not settings.schema_validation_enabled:
        log.warning("schema_validation_disabled", detail="SCHEMA_VALIDATION_ENABLED=false")
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(_prepare_postgres(resources, stop)),
        asyncio.create_task(_refresh_gauges(resources, stop)),
        asyncio.create_task(_prepare_registry(resources, registry)),
    ]
    if settings.nats_query_enabled:
        tasks.append(asyncio.create_task(_connect_nats(resources, stop, registry)))
    try:
        yield
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if resources.nats is not None:
            with contextlib.suppress(Exception):
                await resources.nats.drain()
        await mongo.close()
        await pg.close()


async def _prepare_postgres(resources: Resources, stop: asyncio.Event) -> None:
    """Apply migrations once PostgreSQL answers (the API starts even while it does not)."""
    delay = 0.5
    while not stop.is_set():
        try:
            await apply_migrations(resources.pg)
            resources.postgres_ready.set()
            return
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            log.warning("postgres_not_ready", error=str(exc), retry_in_seconds=delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 10)


async def _prepare_registry(resources: Resources, registry: Registry) -> None:
    """Index the MongoDB side; bootstrap the common schemas with SCHEMA_AUTO_REGISTER."""
    try:
        await registry.service.stores[Database.MONGODB].prepare()
        if resources.settings.schema_auto_register:
            await resources.postgres_ready.wait()
            results = await bootstrap(registry.service, common_items(), overwrite=False)
            log.info("schemas_bootstrapped", results=results)
    except Exception as exc:  # the API serves without it; registration retries the index
        log.warning("schema_registry_not_prepared", error=f"{type(exc).__name__}: {exc}")


async def _connect_nats(
    resources: Resources, stop: asyncio.Event, registry: Registry | None = None
) -> None:
    """Connect to NATS (retrying) and serve data_manager.query.* once connected."""
    delay = 0.5
    while not stop.is_set():
        try:
            resources.nats = await connect_nats(
                resources.settings.nats_url,
                name=SERVICE_NAME,
                on_state=lambda up: NATS_CONNECTION_STATUS.set(int(up)),
            )
            resources.nats_error = None
            await start_query_service(resources)
            if registry is not None:
                await registry.invalidation.subscribe(resources.nats)
            return
        except Exception as exc:  # reported by readiness; retried
            resources.nats_error = f"{type(exc).__name__}: {exc}"
            log.warning("nats_not_ready", error=resources.nats_error, retry_in_seconds=delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 10)


async def _refresh_gauges(resources: Resources, stop: asyncio.Event) -> None:
    while not stop.is_set():
        refresh_pool_gauges(resources)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 5)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_parameter",
}


def _error(code: str, detail: str, status: int, **extra: Any) -> Response:
    return FastJSONResponse({"error": code, "detail": detail, **extra}, status_code=status)


def _allowed_methods(request: Request) -> str:
    """Every method the API serves at the request's path, from the OpenAPI paths (Starlette
    names only the first matching route's, and FastAPI has one route per method)."""
    app: FastAPI = request.app
    table: list[tuple[re.Pattern[str], set[str]]] | None = getattr(app.state, "methods", None)
    if table is None:
        table = [
            (compile_path(path)[0], {method.upper() for method in operations})
            for path, operations in app.openapi()["paths"].items()
        ]
        app.state.methods = table
    found = {
        method for regex, methods in table if regex.match(request.url.path) for method in methods
    }
    return ", ".join(sorted(found))


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(GatewayError)
    async def gateway_error(request: Request, exc: GatewayError) -> Response:
        return _error(exc.code, exc.detail, exc.status, **getattr(exc, "extra", {}))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        for error in errors:
            if error.get("type") == "json_invalid":
                context = error.get("ctx", {}).get("error", "")
                return _error("bad_request", f"malformed JSON body: {context}".rstrip(": "), 400)
        listed = [
            {"loc": list(error.get("loc", ())), "msg": error.get("msg", ""), "type": error["type"]}
            for error in errors
        ]
        return _error("invalid_parameter", describe_errors(errors), 422, errors=listed)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        """Starlette's and FastAPI's own errors (unknown route, wrong method, a body that
        cannot be decoded) in the gateway's error shape."""
        detail = str(exc.detail)
        if isinstance(exc.__cause__, UnicodeError):  # FastAPI decodes JSON bodies as UTF-8
            detail = f"the request body is not valid UTF-8 JSON: {exc.__cause__}"
        elif exc.__cause__ is not None:
            detail = f"{detail}: {type(exc.__cause__).__name__}"
        code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        response = _error(code, detail, exc.status_code)
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:
            response.headers["Allow"] = _allowed_methods(request)
        return response

    unavailable = (
        ConnectionFailure,
        ServerSelectionTimeoutError,
        psycopg.OperationalError,
        psycopg_pool.PoolTimeout,
    )
    for error_type in unavailable:

        @app.exception_handler(error_type)
        async def database_unavailable(request: Request, exc: Exception) -> Response:
            record_error(request.url.path, "database_unavailable")
            log.warning("database_unavailable", path=request.url.path, error=str(exc))
            return _error("unavailable", f"database unavailable: {type(exc).__name__}", 503)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        record_error(request.url.path, type(exc).__name__)
        log.exception("unhandled_error", path=request.url.path)
        return _error("internal_error", "internal error", 500)

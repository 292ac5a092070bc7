"""NATS request/reply for internal callers: ``data_manager.query.<resource>``.

A ``nats.micro`` service (discoverable with ``nats micro ls``) whose endpoints take the REST
query parameters as a JSON object and reply with the REST payload. Errors reply with the
micro error headers and a ``{"error", "detail"}`` body — never silence.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
from nats.micro import add_service
from nats.micro.request import Request
from petrosa_common.analytics import MetricFamily
from petrosa_common.logging import get_logger
from petrosa_common.naming import query_subject
from pydantic import BaseModel, ValidationError

from petrosa_gateway.errors import BadRequest, GatewayError, InvalidParameter, describe_errors
from petrosa_gateway.queries.analysis import (
    AnalysisQuery,
    Analytics,
    CorrelationQuery,
    OverviewQuery,
)
from petrosa_gateway.queries.health import component_states
from petrosa_gateway.queries.market import SERIES, SeriesQuery, read_series
from petrosa_gateway.resources import Resources
from petrosa_gateway.store.encoding import dumps

log = get_logger(__name__)
QUEUE_GROUP = "data-manager-gateway"

Handler = Callable[[dict[str, Any]], Awaitable[Any]]
QueryModel = TypeVar("QueryModel", bound=BaseModel)


def _endpoint(handler: Handler) -> Callable[[Request], Awaitable[None]]:
    async def serve(request: Request) -> None:
        try:
            try:
                body = orjson.loads(request.data) if request.data else {}
            except orjson.JSONDecodeError as exc:
                raise BadRequest(f"malformed JSON request: {exc}") from None
            if not isinstance(body, dict):
                raise BadRequest("the request must be a JSON object")
            reply = await handler(body)
        except GatewayError as exc:
            error = {"error": exc.code, "detail": exc.detail}
            await request.respond_error(str(exc.status), exc.detail, data=dumps(error))
            return
        except Exception as exc:
            log.exception("nats_query_failed", subject=request.subject)
            error = {"error": "internal_error", "detail": type(exc).__name__}
            await request.respond_error("500", "internal error", data=dumps(error))
            return
        await request.respond(dumps(reply))

    return serve


def _valid(model: type[QueryModel], body: dict[str, Any]) -> QueryModel:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise InvalidParameter(describe_errors(exc.errors())) from None


async def start_query_service(resources: Resources) -> None:
    """Register the query endpoints on the connected NATS client."""
    assert resources.nats is not None
    service = await add_service(
        resources.nats,
        name="data-manager-query",
        version="0.1.0",
        description="Petrosa Data Manager read queries",
        queue_group=QUEUE_GROUP,
    )

    def series_handler(resource: str) -> Handler:
        async def handle(body: dict[str, Any]) -> Any:
            try:
                query = SeriesQuery.model_validate(body)
            except ValidationError as exc:
                raise InvalidParameter(describe_errors(exc.errors())) from None
            return await read_series(resources.db, SERIES[resource], query)

        return handle

    for resource in SERIES:
        await service.add_endpoint(
            name=resource,
            subject=query_subject(resource),
            handler=_endpoint(series_handler(resource)),
        )

    analytics = Analytics(
        resources.db, resources.nats, timeout=resources.settings.analytics_request_timeout
    )

    def analysis_handler(metric: MetricFamily) -> Handler:
        async def handle(body: dict[str, Any]) -> Any:
            if metric is MetricFamily.SPREAD:
                return await analytics.spread(_valid(AnalysisQuery, body).pair)
            if metric is MetricFamily.CORRELATION:
                return await analytics.correlation(_valid(CorrelationQuery, body))
            return await analytics.metric(metric, _valid(AnalysisQuery, body))

        return handle

    async def overview(body: dict[str, Any]) -> Any:
        query = _valid(OverviewQuery, body)
        return await analytics.overview(query, resources.settings.supported_pairs)

    for metric in MetricFamily:
        await service.add_endpoint(
            name=f"analysis-{metric.value}",
            subject=query_subject(f"analysis.{metric.value}"),
            handler=_endpoint(analysis_handler(metric)),
        )
    await service.add_endpoint(
        name="analysis-market-overview",
        subject=query_subject("analysis.market-overview"),
        handler=_endpoint(overview),
    )

    async def health(_: dict[str, Any]) -> Any:
        components = await component_states(resources)
        healthy = all(state["status"] == "ok" for state in components.values())
        return {"status": "healthy" if healthy else "unhealthy", "components": components}

    await service.add_endpoint(
        name="health", subject=query_subject("health"), handler=_endpoint(health)
    )
    log.info("nats_query_service_started", subjects=f"{query_subject('*')}")

"""Prometheus exposition at /metrics (also served on METRICS_PORT)."""

from __future__ import annotations

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from petrosa_gateway.deps import ResourcesDep
from petrosa_gateway.pools import refresh_pool_gauges

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=Response, summary="Prometheus metrics")
async def metrics(resources: ResourcesDep) -> Response:
    """All ``data_manager_*`` metrics in the Prometheus text format."""
    refresh_pool_gauges(resources)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

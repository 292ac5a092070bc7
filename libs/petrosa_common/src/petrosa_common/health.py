"""A small health HTTP server for worker services: ``/health/liveness`` and ``/health/readiness``.

Readiness runs real checks (each a coroutine raising on failure) with a timeout and answers
503 with the failing component's error when any required check fails.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Generator, Mapping

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

Check = Callable[[], Awaitable[object]]


async def run_checks(
    checks: Mapping[str, Check], timeout_seconds: float = 3.0
) -> dict[str, dict[str, str]]:
    """Run every check concurrently; ``{name: {"status": "ok"|"error", "error"?: ...}}``."""

    async def one(check: Check) -> dict[str, str]:
        try:
            await asyncio.wait_for(check(), timeout_seconds)
        except Exception as exc:  # a failing dependency is data here, not a crash
            return {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
        return {"status": "ok"}

    results = await asyncio.gather(*(one(check) for check in checks.values()))
    return dict(zip(checks, results, strict=True))


Failure = Callable[[], str | None]
"""Why the process is no longer alive, or ``None`` while it is."""


def health_app(
    service: str, checks: Mapping[str, Check], failure: Failure | None = None
) -> Starlette:
    """The liveness/readiness app for ``service``; liveness answers 503 once ``failure()``
    names a reason (the process is about to exit and must be restarted)."""

    async def liveness(_: Request) -> JSONResponse:
        reason = failure() if failure is not None else None
        if reason is not None:
            return JSONResponse(
                {"status": "failed", "service": service, "error": reason}, status_code=503
            )
        return JSONResponse({"status": "ok", "service": service})

    async def readiness(_: Request) -> JSONResponse:
        components = await run_checks(checks)
        healthy = all(result["status"] == "ok" for result in components.values())
        return JSONResponse(
            {
                "status": "healthy" if healthy else "unhealthy",
                "service": service,
                "components": components,
            },
            status_code=200 if healthy else 503,
        )

    return Starlette(
        routes=[
            Route("/health/liveness", liveness),
            Route("/health/readiness", readiness),
        ]
    )


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the service that embeds it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def health_server(
    service: str, checks: Mapping[str, Check], port: int, failure: Failure | None = None
) -> uvicorn.Server:
    """A uvicorn server for :func:`health_app`; ``await server.serve()`` in a task."""
    config = uvicorn.Config(
        health_app(service, checks, failure),
        host="0.0.0.0",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    return EmbeddedServer(config)

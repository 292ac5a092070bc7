"""structlog configured for one JSON object per line on stdout."""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import orjson
import structlog


def _dumps(obj: Any, default: Any = None) -> str:
    return orjson.dumps(obj, default=default).decode()


def configure_logging(
    service: str, level: str = "INFO", stream: TextIO | None = None, *, cache_loggers: bool = True
) -> None:
    """Send structlog and standard-library logs as JSON lines, each tagged with ``service``,
    to ``stream`` (standard output by default).

    Cached loggers (the default: cheaper on hot paths) keep the stream they first wrote to;
    code that may configure logging again with another stream (a CLI's ``main`` run in-process
    by tests) passes ``cache_loggers=False``."""
    stream = stream or sys.stdout
    numeric_level = logging.getLevelName(level.upper())
    if not isinstance(numeric_level, int):
        numeric_level = logging.INFO
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=_dumps),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=cache_loggers,
    )
    structlog.contextvars.bind_contextvars(service=service)
    # Libraries (pymongo, nats, uvicorn) log through the standard library: render them alike.
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(serializer=_dumps),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(
        max(numeric_level, logging.INFO) if numeric_level < logging.INFO else numeric_level
    )


def get_logger(name: str | None = None) -> structlog.typing.FilteringBoundLogger:
    """A structlog logger; ``name`` is added as the ``logger_name`` field."""
    # Initial values keep the proxy lazy, so loggers made at import time still follow
    # the configuration applied later by configure_logging().
    logger: structlog.typing.FilteringBoundLogger = (
        structlog.get_logger(logger_name=name) if name else structlog.get_logger()
    )
    return logger

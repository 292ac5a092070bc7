"""Exposition: ``/metrics`` on ``METRICS_PORT`` for the worker services."""

from __future__ import annotations

from prometheus_client import start_http_server


def start_metrics_server(port: int) -> None:
    """Serve ``/metrics`` on ``port`` in a background thread (``0`` disables it)."""
    if port:
        start_http_server(port)

"""Prometheus metrics: every ``data_manager_*`` metric object is defined in this package and
nowhere else (docs/metrics.md); services only record them.

One module per concern: :mod:`.ingest`, :mod:`.common` (databases, errors, NATS),
:mod:`.leases`, :mod:`.audit`, :mod:`.retention`, :mod:`.backfill`, :mod:`.binance`,
:mod:`.analytics`, :mod:`.gateway`. Import from the concern's module; the names below stay
importable from the package itself for code written before the split. A concern's metrics are
registered (and exposed) only by the processes that import its module: the ingestor shows no
gateway gauges.
"""

from __future__ import annotations

from petrosa_common.metrics.analytics import (
    ANALYTICS_CYCLE_SECONDS,
    ANALYTICS_ERRORS,
    ANALYTICS_SERIES_COMPUTED,
)
from petrosa_common.metrics.common import DATABASE_OPERATIONS, ERRORS, NATS_CONNECTION_STATUS
from petrosa_common.metrics.ingest import (
    BATCH_SIZE,
    CONSUMER_ACK_PENDING,
    CONSUMER_PENDING,
    DEAD_LETTERS,
    MESSAGE_PROCESSING_SECONDS,
    MESSAGES_FAILED,
    MESSAGES_PROCESSED,
    MESSAGES_RECEIVED,
)
from petrosa_common.metrics.leases import LEADER_STATUS, LEADER_TRANSITIONS
from petrosa_common.metrics.server import start_metrics_server

__all__ = [
    "ANALYTICS_CYCLE_SECONDS",
    "ANALYTICS_ERRORS",
    "ANALYTICS_SERIES_COMPUTED",
    "BATCH_SIZE",
    "CONSUMER_ACK_PENDING",
    "CONSUMER_PENDING",
    "DATABASE_OPERATIONS",
    "DEAD_LETTERS",
    "ERRORS",
    "LEADER_STATUS",
    "LEADER_TRANSITIONS",
    "MESSAGES_FAILED",
    "MESSAGES_PROCESSED",
    "MESSAGES_RECEIVED",
    "MESSAGE_PROCESSING_SECONDS",
    "NATS_CONNECTION_STATUS",
    "start_metrics_server",
]

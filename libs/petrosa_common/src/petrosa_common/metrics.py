"""Prometheus metrics: every ``data_manager_*`` metric is defined here and only here."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

# Ingest path.
MESSAGES_RECEIVED = Counter(
    "data_manager_messages_received_total",
    "Messages received from NATS, by event type",
    ["event_type"],
)
MESSAGES_PROCESSED = Counter(
    "data_manager_messages_processed_total",
    "Messages stored (and acknowledged), by event type",
    ["event_type"],
)
MESSAGES_FAILED = Counter(
    "data_manager_messages_failed_total",
    "Messages that failed, by event type and reason (dead-lettered or retried)",
    ["event_type", "reason"],
)
MESSAGE_PROCESSING_SECONDS = Histogram(
    "data_manager_message_processing_seconds",
    "Time from fetching a batch of messages to acknowledging it",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
BATCH_SIZE = Histogram(
    "data_manager_ingest_batch_size",
    "Messages per ingest batch",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000),
)
NATS_CONNECTION_STATUS = Gauge(
    "data_manager_nats_connection_status", "1 when connected to NATS, else 0"
)
CONSUMER_PENDING = Gauge(
    "data_manager_consumer_pending_messages",
    "Consumer lag: messages in the stream not yet delivered to the durable consumer",
)
CONSUMER_ACK_PENDING = Gauge(
    "data_manager_consumer_ack_pending_messages",
    "Messages delivered to the durable consumer and not yet acknowledged",
)
DEAD_LETTERS = Counter(
    "data_manager_dead_letters_total",
    "Messages kept in the dead-letter store, by reason",
    ["reason"],
)
DATABASE_OPERATIONS = Counter(
    "data_manager_database_operations_total",
    "Database operations, by database, operation and outcome",
    ["database", "operation", "status"],
)
ERRORS = Counter(
    "data_manager_errors_total", "Errors, by component and kind", ["component", "kind"]
)


def start_metrics_server(port: int) -> None:
    """Serve ``/metrics`` on ``port`` in a background thread (``0`` disables it)."""
    if port:
        start_http_server(port)


# Leader election (petrosa_common.leases).
LEADER_STATUS = Gauge(
    "data_manager_audit_leader_status",
    "1 while this process holds the leader lease of the role, else 0",
    ["role"],
)
LEADER_TRANSITIONS = Counter(
    "data_manager_leader_transitions_total",
    "Leadership changes of this process, by role and event (elected, lapsed, lost, ...)",
    ["role", "event"],
)

# Analytics (petrosa-analytics).
ANALYTICS_CYCLE_SECONDS = Histogram(
    "data_manager_analytics_cycle_seconds",
    "Duration of an analytics cycle (read, compute, write), by the leader",
    buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0),
)
ANALYTICS_SERIES_COMPUTED = Counter(
    "data_manager_analytics_series_computed_total",
    "Results computed, by metric family and origin (cycle, on_demand)",
    ["metric", "origin"],
)
ANALYTICS_ERRORS = Counter(
    "data_manager_analytics_errors_total",
    "Results that could not be computed, by metric family and reason",
    ["metric", "reason"],
)

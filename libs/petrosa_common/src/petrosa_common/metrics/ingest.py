"""Ingest path (petrosa-ingestor): messages, batches, consumer lag, dead letters.

Labels: ``event_type`` is an :class:`~petrosa_common.events.EventType` value or ``"unknown"``
(:data:`~petrosa_common.parser.UNKNOWN_EVENT_TYPE`); ``reason`` is a
:class:`~petrosa_common.parser.RejectReason` value, ``write_refused``, ``max_deliveries`` or
(``messages_failed`` only) ``database_unavailable``.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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

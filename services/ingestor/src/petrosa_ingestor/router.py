"""Batch routing: raw frames -> validated, de-duplicated writes grouped by collection.

Pure and synchronous: this is the CPU cost per message that the ingest benchmark measures.
Each frame is isolated: whatever it raises, it alone is rejected and the batch goes on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from petrosa_common.documents import DocumentId, WriteOp, event_writes, supersedes
from petrosa_common.logging import get_logger
from petrosa_common.parser import (
    DEFAULT_LIMITS,
    UNKNOWN_EVENT_TYPE,
    FrameLimits,
    MessageRejected,
    parse_typed_frame,
)

log = get_logger(__name__)

PROCESSING_ERROR = "processing_error"
"""Dead-letter reason of a frame that raised something the parser does not expect (a bug)."""

OpKey = tuple[str, DocumentId]


@dataclass(slots=True)
class RoutedBatch:
    """The writes of one batch, and which messages depend on which writes."""

    ops_by_collection: dict[str, dict[DocumentId, WriteOp]] = field(default_factory=dict)
    message_keys: list[tuple[OpKey, ...]] = field(default_factory=list)
    """Per message (by index): the documents it feeds; it is acknowledged once all are stored."""
    rejected: dict[int, tuple[str, str]] = field(default_factory=dict)
    """Messages that can never be stored, by index: ``(reason, detail)``."""
    event_types: list[str] = field(default_factory=list)
    """Per message: its event type (metric label), ``unknown`` when unparseable."""

    def collections_of(self, index: int) -> set[str]:
        """The collections message ``index`` must reach before it can be acknowledged."""
        return {collection for collection, _ in self.message_keys[index]}

    def contributors(self, key: OpKey) -> list[int]:
        """The messages whose content document ``key`` carries (only needed on refusal)."""
        return [index for index, keys in enumerate(self.message_keys) if key in keys]

    @property
    def op_count(self) -> int:
        """Number of document writes after de-duplication."""
        return sum(len(ops) for ops in self.ops_by_collection.values())


def route_batch(payloads: Sequence[bytes], limits: FrameLimits = DEFAULT_LIMITS) -> RoutedBatch:
    """Parse every payload and keep one write per document (the newest where versioned)."""
    batch = RoutedBatch()
    by_collection = batch.ops_by_collection
    message_keys = batch.message_keys
    event_types = batch.event_types
    for index, payload in enumerate(payloads):
        try:
            event_type, event = parse_typed_frame(payload, limits)
            writes = event_writes(event)
        except MessageRejected as rejected:
            batch.rejected[index] = (rejected.reason, rejected.detail)
            message_keys.append(())
            event_types.append(rejected.event_type)
            continue
        except Exception as exc:  # a bug must cost one frame, never the stream
            log.exception("frame_processing_failed", index=index)
            batch.rejected[index] = (PROCESSING_ERROR, f"{type(exc).__name__}: {exc}"[:500])
            message_keys.append(())
            event_types.append(UNKNOWN_EVENT_TYPE)
            continue
        event_types.append(event_type)
        for op in writes:
            ops = by_collection.get(op.collection)
            if ops is None:
                ops = by_collection[op.collection] = {}
            current = ops.get(op.doc_id)
            if current is None or supersedes(op, current):
                ops[op.doc_id] = op
        message_keys.append(tuple((op.collection, op.doc_id) for op in writes))
    return batch

"""Batch routing: raw frames -> validated, de-duplicated writes grouped by collection.

Pure and synchronous: this is the CPU cost per message that the ingest benchmark measures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from petrosa_common.documents import DocumentId, WriteOp, event_writes, supersedes
from petrosa_common.parser import MessageRejected, event_type_of, parse_frame

OpKey = tuple[str, DocumentId]


@dataclass(slots=True)
class RoutedBatch:
    """The writes of one batch, and which messages depend on which writes."""

    ops_by_collection: dict[str, dict[DocumentId, WriteOp]] = field(default_factory=dict)
    message_collections: list[tuple[str, ...]] = field(default_factory=list)
    """Per message (by index): the collections it must reach before it can be acknowledged."""
    contributors: dict[OpKey, list[int]] = field(default_factory=dict)
    """Per written document: the messages whose content it carries."""
    rejected: dict[int, MessageRejected] = field(default_factory=dict)
    """Messages that can never be stored, by index."""
    event_types: list[str] = field(default_factory=list)
    """Per message: its event type (metric label), ``unknown`` when unparseable."""

    @property
    def op_count(self) -> int:
        """Number of document writes after de-duplication."""
        return sum(len(ops) for ops in self.ops_by_collection.values())


def route_batch(payloads: Sequence[bytes]) -> RoutedBatch:
    """Parse every payload and keep one write per document (the newest where versioned)."""
    batch = RoutedBatch()
    by_collection = batch.ops_by_collection
    contributors = batch.contributors
    for index, payload in enumerate(payloads):
        try:
            event = parse_frame(payload)
        except MessageRejected as rejected:
            batch.rejected[index] = rejected
            batch.message_collections.append(())
            batch.event_types.append(rejected.event_type)
            continue
        batch.event_types.append(event_type_of(event))
        collections: list[str] = []
        for op in event_writes(event):
            ops = by_collection.get(op.collection)
            if ops is None:
                ops = by_collection[op.collection] = {}
            current = ops.get(op.doc_id)
            if current is None or supersedes(op, current):
                ops[op.doc_id] = op
            key = (op.collection, op.doc_id)
            waiting = contributors.get(key)
            if waiting is None:
                contributors[key] = [index]
            else:
                waiting.append(index)
            collections.append(op.collection)
        batch.message_collections.append(tuple(collections))
    return batch

"""Duplicate detection and removal planning for one series (pure, no I/O).

A duplicate is a document of one series with the same natural key as another (for candles the
open time behind ``timestamp``) but a different ``_id`` — written, for example, by an old writer
(ObjectId ids) or through the generic API.

Rules:

* Keys are grouped with numpy; only keys held by two or more *distinct* ids form a
  :class:`DuplicateGroup`. The same id listed twice under one key is one document (its first
  listing counts). Groups come out in ascending key order.
* Insertion time of a document, in epoch ms: its ``inserted_at`` (int epoch ms, or an *aware*
  datetime — naive ones raise ``ValueError``); when that is missing and the id is an ObjectId,
  the ObjectId's generation time (whole seconds); otherwise unknown.
* Insertion order (oldest first), ties broken deterministically by, in turn:
  1. unknown insertion times before every known one (presumed legacy documents);
  2. insertion time ascending;
  3. id type: ObjectId, then int, then str, then any other type (by type name and ``repr``);
  4. id value ascending (ObjectIds by their 12 bytes, so by time then counter);
  5. position in the input.
  So "newest" is the last document of a group and "oldest" the first.
* :func:`plan_removal`: ``keep_newest`` keeps the last document and removes the rest,
  ``keep_oldest`` keeps the first and removes the rest, ``manual`` plans nothing (detect only).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TypeAlias, get_args

import numpy as np
import numpy.typing as npt
from bson import ObjectId
from petrosa_common.time import to_epoch_ms

DocId: TypeAlias = Hashable
"""A document ``_id``: str, int or ObjectId (any hashable BSON value is accepted)."""
InsertedAt: TypeAlias = int | np.integer | datetime | None
Strategy: TypeAlias = Literal["keep_newest", "keep_oldest", "manual"]
STRATEGIES: tuple[Strategy, ...] = get_args(Strategy)

# (unknown-first flag, inserted ms, type rank, int value, bytes value, str value, position)
_OrderKey: TypeAlias = tuple[int, int, int, int, bytes, str, int]


@dataclass(frozen=True, slots=True)
class DuplicateGroup:
    """All documents sharing one natural key, oldest first (see the module's ordering rules)."""

    key: int
    doc_ids: tuple[DocId, ...]
    inserted_at_ms: tuple[int | None, ...]
    """Insertion time of each document in ``doc_ids`` (``None`` when unknown)."""

    @property
    def surplus(self) -> int:
        """Documents beyond the one that should exist."""
        return len(self.doc_ids) - 1


@dataclass(frozen=True, slots=True)
class Removal:
    """Keep ``keep_id`` for ``key``; delete every id in ``remove_ids`` (oldest first)."""

    key: int
    keep_id: DocId
    remove_ids: tuple[DocId, ...]


def insertion_ms(doc_id: DocId, inserted_at: InsertedAt) -> int | None:
    """Insertion time in epoch ms: ``inserted_at``, else an ObjectId's generation time, else None.

    Raises ``ValueError`` for a naive datetime.
    """
    if isinstance(inserted_at, datetime):
        return to_epoch_ms(inserted_at)
    if inserted_at is not None:
        return int(inserted_at)
    if isinstance(doc_id, ObjectId):
        return to_epoch_ms(doc_id.generation_time)
    return None


def _order_key(doc_id: DocId, inserted: int | None, position: int) -> _OrderKey:
    known, at = (0, 0) if inserted is None else (1, inserted)
    if isinstance(doc_id, ObjectId):
        return (known, at, 0, 0, doc_id.binary, "", position)
    if isinstance(doc_id, int) and not isinstance(doc_id, bool):
        return (known, at, 1, doc_id, b"", "", position)
    if isinstance(doc_id, str):
        return (known, at, 2, 0, b"", doc_id, position)
    return (known, at, 3, 0, b"", f"{type(doc_id).__qualname__}:{doc_id!r}", position)


def find_duplicates(
    keys: npt.NDArray[np.integer] | Sequence[int],
    doc_ids: Sequence[DocId],
    inserted_at: Sequence[InsertedAt] | npt.NDArray[np.integer] | None = None,
) -> list[DuplicateGroup]:
    """Groups of documents sharing a natural key, for keys held by two or more distinct ids.

    ``keys`` (natural keys, e.g. open time ms), ``doc_ids`` and ``inserted_at`` are parallel;
    ``inserted_at`` may be omitted (all unknown) or hold ``None`` entries. Raises
    ``ValueError`` when lengths differ or an insertion time is a naive datetime.
    """
    key_array = np.asarray(keys)
    count = len(doc_ids)
    if key_array.ndim != 1 or key_array.shape[0] != count:
        raise ValueError(f"keys ({key_array.shape}) and doc_ids ({count}) must be parallel")
    if inserted_at is not None and len(inserted_at) != count:
        raise ValueError(f"inserted_at ({len(inserted_at)}) and doc_ids ({count}) differ")
    if count < 2:
        return []
    if key_array.dtype.kind not in "iu":
        raise TypeError(f"keys must hold integers, got dtype {key_array.dtype}")

    order = np.argsort(key_array, kind="stable")
    sorted_keys = key_array[order]
    starts = np.flatnonzero(np.concatenate(([True], sorted_keys[1:] != sorted_keys[:-1])))
    sizes = np.diff(np.append(starts, count))
    repeated = np.flatnonzero(sizes > 1)

    groups: list[DuplicateGroup] = []
    # Only rows under a repeated key reach Python; the common case (no duplicates) stays in numpy.
    for start, size in zip(starts[repeated].tolist(), sizes[repeated].tolist(), strict=True):
        rows: list[int] = order[start : start + size].tolist()
        seen: set[tuple[type, DocId]] = set()
        members: list[tuple[_OrderKey, DocId, int | None]] = []
        for row in rows:
            doc_id = doc_ids[row]
            identity = (type(doc_id), doc_id)
            if identity in seen:
                continue
            seen.add(identity)
            inserted = insertion_ms(doc_id, None if inserted_at is None else inserted_at[row])
            members.append((_order_key(doc_id, inserted, row), doc_id, inserted))
        if len(members) < 2:
            continue
        members.sort(key=lambda member: member[0])
        groups.append(
            DuplicateGroup(
                key=int(sorted_keys[start]),
                doc_ids=tuple(member[1] for member in members),
                inserted_at_ms=tuple(member[2] for member in members),
            )
        )
    return groups


def count_duplicates(groups: Sequence[DuplicateGroup]) -> int:
    """Surplus documents over all groups (the ``duplicates`` input of the health score)."""
    return sum(group.surplus for group in groups)


def plan_removal(groups: Sequence[DuplicateGroup], strategy: Strategy) -> list[Removal]:
    """What to delete under ``strategy``: one :class:`Removal` per group, in group order.

    ``keep_newest`` keeps each group's last document, ``keep_oldest`` its first; ``manual``
    returns an empty list (detection only). Raises ``ValueError`` for an unknown strategy.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; expected one of {', '.join(STRATEGIES)}")
    if strategy == "manual":
        return []
    removals: list[Removal] = []
    for group in groups:
        if strategy == "keep_newest":
            keep, remove = group.doc_ids[-1], group.doc_ids[:-1]
        else:
            keep, remove = group.doc_ids[0], group.doc_ids[1:]
        removals.append(Removal(key=group.key, keep_id=keep, remove_ids=remove))
    return removals


__all__ = [
    "STRATEGIES",
    "DocId",
    "DuplicateGroup",
    "InsertedAt",
    "Removal",
    "Strategy",
    "count_duplicates",
    "find_duplicates",
    "insertion_ms",
    "plan_removal",
]

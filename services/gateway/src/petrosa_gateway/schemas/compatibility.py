"""Compatibility modes, as Confluent Schema Registry defines them, over the structural diff.

* NONE: no check.
* BACKWARD (the default): the new schema reads data written with the latest version, i.e. the
  diff from that version (writer) to the new schema (reader) holds only compatible changes.
* FORWARD: the latest version reads data written with the new schema (the same diff, swapped).
* FULL: both.
* ``*_TRANSITIVE``: the same against every non-deleted earlier version, newest first, not only
  the latest. A schema can be compatible with version 2 and not with version 1 (v1 allowed
  values that v2 stopped writing and v3 stops reading), which only a transitive mode catches.

(Confluent: "Schema Evolution and Compatibility", docs.confluent.io/platform/current/
schema-registry/fundamentals/schema-evolution.html; the checker is ``JsonSchema
.isBackwardCompatible`` and ``CompatibilityChecker`` in confluentinc/schema-registry.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise

from petrosa_gateway.schemas.changes import Change, Policy, is_compatible
from petrosa_gateway.schemas.diff import diff_documents
from petrosa_gateway.schemas.explain import explain
from petrosa_gateway.schemas.nodes import Document, load


class Direction(StrEnum):
    """Who reads whose data in one comparison."""

    BACKWARD = "backward"
    """The new schema reads data written with the earlier version."""
    FORWARD = "forward"
    """The earlier version reads data written with the new schema."""


class CompatibilityMode(StrEnum):
    """Confluent's compatibility levels."""

    NONE = "NONE"
    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"

    @property
    def transitive(self) -> bool:
        """Checked against every earlier version, not only the latest."""
        return self.value.endswith("_TRANSITIVE")

    @property
    def directions(self) -> tuple[Direction, ...]:
        """The comparisons each earlier version takes part in."""
        base = self.value.removesuffix("_TRANSITIVE")
        if base == "BACKWARD":
            return (Direction.BACKWARD,)
        if base == "FORWARD":
            return (Direction.FORWARD,)
        if base == "FULL":
            return (Direction.BACKWARD, Direction.FORWARD)
        return ()


DEFAULT_MODE = CompatibilityMode.BACKWARD


@dataclass(frozen=True, slots=True)
class RegisteredVersion:
    """An earlier, non-deleted version of the subject."""

    version: int
    schema: object


@dataclass(frozen=True, slots=True)
class Comparison:
    """Every change found comparing the new schema with one earlier version in one direction."""

    version: int
    direction: Direction
    changes: tuple[Change, ...]


@dataclass(frozen=True, slots=True)
class BreakingChange:
    """One incompatible change, with the version it breaks against, in plain words."""

    version: int
    direction: Direction
    change: Change
    message: str
    hint: str


@dataclass(frozen=True, slots=True)
class CompatibilityResult:
    """The verdict of one check and why."""

    mode: CompatibilityMode
    policy: Policy
    is_compatible: bool
    comparisons: tuple[Comparison, ...]
    breaking: tuple[BreakingChange, ...]

    @property
    def messages(self) -> tuple[str, ...]:
        """The verbose report: each breaking change in plain words with its hint."""
        return tuple(f"{b.message} {b.hint}" for b in self.breaking)


def check(
    new: object,
    previous: Sequence[RegisteredVersion],
    mode: CompatibilityMode = DEFAULT_MODE,
    *,
    policy: Policy = Policy.STRICT,
) -> CompatibilityResult:
    """Whether ``new`` may be registered after ``previous`` (non-deleted versions, newest first).

    Non-transitive modes compare with ``previous[0]`` only; with no earlier version every
    schema is compatible. Raises SchemaError when a schema is unusable and ValueError when
    ``previous`` is not newest first.
    """
    numbers = [p.version for p in previous]
    if any(a <= b for a, b in pairwise(numbers)):
        raise ValueError(f"earlier versions must be newest first, got {numbers}")
    new_document = load(new)
    against = previous if mode.transitive else previous[:1]
    comparisons: list[Comparison] = []
    breaking: list[BreakingChange] = []
    for earlier in against if mode.directions else ():
        earlier_document = load(earlier.schema)
        for direction in mode.directions:
            comparison = _compare(new_document, earlier, earlier_document, direction, policy)
            comparisons.append(comparison)
            breaking += _breaking(comparison, policy)
    return CompatibilityResult(
        mode=mode,
        policy=policy,
        is_compatible=not breaking,
        comparisons=tuple(comparisons),
        breaking=tuple(breaking),
    )


def _compare(
    new: Document,
    earlier: RegisteredVersion,
    earlier_document: Document,
    direction: Direction,
    policy: Policy,
) -> Comparison:
    if direction is Direction.BACKWARD:
        changes = diff_documents(earlier_document, new, policy=policy)
    else:
        changes = diff_documents(new, earlier_document, policy=policy)
    return Comparison(version=earlier.version, direction=direction, changes=tuple(changes))


def _breaking(comparison: Comparison, policy: Policy) -> list[BreakingChange]:
    version = f"version {comparison.version}"
    if comparison.direction is Direction.BACKWARD:
        reader, writer = "the new schema", version
    else:
        reader, writer = version, "the new schema"
    found = []
    for change in comparison.changes:
        if is_compatible(change.type, policy):
            continue
        words = explain(change, reader=reader, writer=writer)
        found.append(
            BreakingChange(
                version=comparison.version,
                direction=comparison.direction,
                change=change,
                message=words.message,
                hint=words.hint,
            )
        )
    return found

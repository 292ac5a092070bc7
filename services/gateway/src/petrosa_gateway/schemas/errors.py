"""Errors of the schema registry core; the gateway maps each to one HTTP status in one place."""

from __future__ import annotations


class SchemaError(ValueError):
    """A schema the registry cannot use (the caller sent it: a 4xx, never a 5xx)."""


class InvalidSchemaError(SchemaError):
    """Not a JSON Schema: wrong shape, or refused by its dialect's meta-schema."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = tuple(reasons)


class UnsupportedDialectError(SchemaError):
    """``$schema`` names a dialect this registry does not implement."""


class UnresolvableReferenceError(SchemaError):
    """A ``$ref`` points outside the document or at nothing in it."""

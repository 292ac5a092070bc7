"""JSON Schema dialects: which one a schema declares with ``$schema``, and the default.

Validation reads a schema without ``$schema`` as Draft 2020-12 (the registry's default). The
compatibility walk reads such a schema the way Confluent's checker does, which is Draft 7
(``JsonSchema.rawSchema`` in confluentinc/schema-registry): :func:`declared_dialect` returns
``None`` there so each caller applies its own default.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from petrosa_gateway.schemas.errors import UnsupportedDialectError


class Dialect(StrEnum):
    """The JSON Schema drafts the registry understands."""

    DRAFT_4 = "draft-04"
    DRAFT_6 = "draft-06"
    DRAFT_7 = "draft-07"
    DRAFT_2019_09 = "2019-09"
    DRAFT_2020_12 = "2020-12"

    @property
    def is_modern(self) -> bool:
        """2019-09 and later: ``$defs``, ``dependentSchemas``, ``unevaluated*``, ``$anchor``."""
        return self in (Dialect.DRAFT_2019_09, Dialect.DRAFT_2020_12)


DEFAULT_VALIDATION_DIALECT = Dialect.DRAFT_2020_12

_BY_URI: dict[str, Dialect] = {
    "json-schema.org/draft-04/schema": Dialect.DRAFT_4,
    "json-schema.org/draft-06/schema": Dialect.DRAFT_6,
    "json-schema.org/draft-07/schema": Dialect.DRAFT_7,
    "json-schema.org/draft/2019-09/schema": Dialect.DRAFT_2019_09,
    "json-schema.org/draft/2020-12/schema": Dialect.DRAFT_2020_12,
}


def declared_dialect(schema: object) -> Dialect | None:
    """The dialect ``$schema`` names (http or https, with or without ``#``); None if absent.

    Raises UnsupportedDialectError for any other ``$schema`` value: guessing would silently
    change what the schema means.
    """
    if not isinstance(schema, Mapping) or "$schema" not in schema:
        return None
    uri = schema["$schema"]
    if not isinstance(uri, str):
        raise UnsupportedDialectError("$schema must be a string")
    key = uri.strip().removeprefix("https://").removeprefix("http://").rstrip("#")
    dialect = _BY_URI.get(key)
    if dialect is None:
        known = ", ".join(f"https://{u}" for u in _BY_URI)
        raise UnsupportedDialectError(f"unsupported $schema {uri!r}; known: {known}")
    return dialect

"""Schema registry core, free of I/O: compatibility as Confluent defines it, and validation.

* :func:`check` - may a new schema follow the earlier versions under a compatibility mode?
* :func:`diff` - every typed change (:class:`Change`) from an old to a new schema.
* :func:`validate_records` / :func:`all_valid` - records against a schema.
* :func:`normalise` / :func:`fingerprint` - "is this the schema already registered?".
"""

from petrosa_gateway.schemas.changes import (
    LENIENT_COMPATIBLE,
    STRICT_COMPATIBLE,
    Change,
    ChangeType,
    Policy,
    compatible_types,
    is_compatible,
)
from petrosa_gateway.schemas.compatibility import (
    DEFAULT_MODE,
    BreakingChange,
    Comparison,
    CompatibilityMode,
    CompatibilityResult,
    Direction,
    RegisteredVersion,
    check,
)
from petrosa_gateway.schemas.dialects import DEFAULT_VALIDATION_DIALECT, Dialect
from petrosa_gateway.schemas.diff import diff
from petrosa_gateway.schemas.errors import (
    InvalidSchemaError,
    SchemaError,
    UnresolvableReferenceError,
    UnsupportedDialectError,
)
from petrosa_gateway.schemas.explain import Explanation, explain
from petrosa_gateway.schemas.normalise import fingerprint, normalise
from petrosa_gateway.schemas.validation import (
    ValidationIssue,
    ValidationReport,
    all_valid,
    check_schema,
    is_valid,
    validate_records,
)

__all__ = [
    "DEFAULT_MODE",
    "DEFAULT_VALIDATION_DIALECT",
    "LENIENT_COMPATIBLE",
    "STRICT_COMPATIBLE",
    "BreakingChange",
    "Change",
    "ChangeType",
    "Comparison",
    "CompatibilityMode",
    "CompatibilityResult",
    "Dialect",
    "Direction",
    "Explanation",
    "InvalidSchemaError",
    "Policy",
    "RegisteredVersion",
    "SchemaError",
    "UnresolvableReferenceError",
    "UnsupportedDialectError",
    "ValidationIssue",
    "ValidationReport",
    "all_valid",
    "check",
    "check_schema",
    "compatible_types",
    "diff",
    "explain",
    "fingerprint",
    "is_compatible",
    "is_valid",
    "normalise",
    "validate_records",
]

"""The rules every client input obeys: one definition each, used everywhere.

Typed parameters and body models use the ``Annotated`` types at the bottom (so the OpenAPI
schema states the rule and a violation is a 422 listing every reason); the filter compilers
of both databases and the CRUD writes call the check functions (a violation is
:class:`~petrosa_gateway.errors.InvalidInput`, a 400).

* **Integers** reach the stores as signed 64-bit values (MongoDB's 8-byte int, PostgreSQL's
  ``bigint``): :data:`INT64_MIN` … :data:`INT64_MAX`. Offsets are 0 … :data:`MAX_OFFSET`
  (2**53 - 1: exact in every JSON client, and ``offset + limit`` still fits 64 bits).
  Floats must be finite.
* **Text** in parameters, filter values and names has no control character (Unicode
  category Cc: U+0000-U+001F, U+007F-U+009F; NUL included) and no lone surrogate (neither
  store can encode one). Values written in records may hold control characters (they are
  data) but no lone surrogate.
* **Names** (field names written, filtered, sorted or projected on) follow MongoDB's rules,
  on PostgreSQL too: non-empty, no control character, not starting with ``$``, no ``.``;
  where a dotted path is allowed, each of its segments is such a name. In a record the rule
  holds at every nesting depth (at most :data:`MAX_DOCUMENT_DEPTH`, BSON's limit).
* **Dates** lie in the years 1970-9999 once converted to UTC: :data:`MIN_DATETIME` …
  :data:`MAX_DATETIME`. That holds for typed date parameters and body fields, and for
  ISO-8601 strings that the gateway converts to dates (filters, written records).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Any, Final

from petrosa_common.timeframes import TIMEFRAME_SECONDS
from pydantic import AfterValidator, Field
from pydantic.json_schema import WithJsonSchema

from petrosa_gateway.errors import InvalidInput

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
MAX_OFFSET: Final = 2**53 - 1
MAX_DOCUMENT_DEPTH: Final = 100
MIN_DATETIME: Final = datetime(1970, 1, 1, tzinfo=UTC)
MAX_DATETIME: Final = datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)

_CONTROL: Final = r"\x00-\x1f\x7f-\x9f"
TEXT_PATTERN: Final = rf"^[^{_CONTROL}]*$"
"""The text rule as a JSON-schema pattern (lone surrogates cannot be written in one)."""
_SEGMENT: Final = rf"[^$.{_CONTROL}][^.{_CONTROL}]*"
NAME_PATTERN: Final = rf"^{_SEGMENT}$"
"""The name rule as a JSON-schema pattern (for ``propertyNames``)."""
PATH_PATTERN: Final = rf"^{_SEGMENT}(\.{_SEGMENT})*$"
_BAD_TEXT: Final = re.compile(rf"[{_CONTROL}\ud800-\udfff]")
_SURROGATE: Final = re.compile(r"[\ud800-\udfff]")

_ISO_RE: Final = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})"
    r"(?:[T ](?P<hour>\d{2}):(?P<minute>\d{2})"
    r"(?::(?P<second>\d{2})(?:[.,](?P<fraction>\d{1,9}))?)?"
    r"(?P<tz>[Zz]|[+-]\d{2}(?::?\d{2})?)?)?"
)


def check_text(value: str, *, what: str) -> str:
    """``value`` when it holds no control character and no lone surrogate."""
    bad = _BAD_TEXT.search(value)
    if bad is None:
        return value
    char = bad.group()
    if char == "\x00":
        raise InvalidInput(f"{what} must not contain NUL")
    if _SURROGATE.fullmatch(char):
        raise InvalidInput(f"{what} is not valid Unicode (lone surrogate U+{ord(char):04X})")
    raise InvalidInput(f"{what} must not contain control characters (found U+{ord(char):04X})")


def check_unicode(value: str, *, what: str) -> str:
    """``value`` when it can be encoded as UTF-8 (no lone surrogate), as both stores need."""
    if _SURROGATE.search(value):
        raise InvalidInput(f"{what} is not valid Unicode (lone surrogate)")
    return value


def check_name(name: object, *, what: str = "field name", where: str = "") -> str:
    """``name`` when it is a legal field name (MongoDB's rules, applied on both stores);
    ``where`` (e.g. ``" in 'meta'"``) locates a nested name in the message."""
    if not isinstance(name, str):
        raise InvalidInput(f"{what}{where} must be a string, got {type(name).__name__}")
    if not name:
        raise InvalidInput(f"{what}{where} must not be empty")
    check_text(name, what=f"{what} {name!r}{where}")
    if name.startswith("$"):
        raise InvalidInput(
            f"{what} {name!r}{where} must not start with '$' (operators are not field names)"
        )
    if "." in name:
        raise InvalidInput(f"{what} {name!r}{where} must not contain '.'")
    return name


def check_path(path: object, *, what: str = "field path") -> str:
    """``path`` when it is a dotted path (``meta.source``) whose segments are legal names."""
    if not isinstance(path, str):
        raise InvalidInput(f"{what} must be a string, got {type(path).__name__}")
    if not path:
        raise InvalidInput(f"{what} must not be empty")
    for segment in path.split("."):
        if not segment:
            raise InvalidInput(f"{what} {path!r} has an empty segment")
        check_name(segment, what=f"{what} {path!r}: segment")
    return path


def check_int64(value: int, *, what: str) -> int:
    """``value`` when it fits a signed 64-bit integer."""
    if not INT64_MIN <= value <= INT64_MAX:
        raise InvalidInput(f"{what}: integer {value} does not fit in 64 bits")
    return value


def check_number(value: float, *, what: str) -> float:
    """``value`` when it is finite (JSON has no NaN or infinity)."""
    if not math.isfinite(value):
        raise InvalidInput(f"{what}: {value} is not a finite number")
    return value


def check_datetime(moment: datetime, *, what: str = "date") -> datetime:
    """``moment`` as an aware UTC datetime (naive means UTC) in the years 1970-9999."""
    try:
        utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:  # an offset pushed it past year 1 or 9999
        utc = None
    if utc is None or not MIN_DATETIME <= utc <= MAX_DATETIME:
        raise InvalidInput(
            f"{what} {moment.isoformat()} is outside the years 1970-9999 (UTC) the stores accept"
        )
    return utc


def parse_iso_datetime(value: str, *, what: str = "date") -> datetime | None:
    """``value`` as an aware UTC datetime when it is shaped like an ISO-8601 date, else ``None``.

    ``2025-01-01``, ``2025-01-01T10:00``, ``2025-01-01 10:00:00.5+02:00``: a missing offset
    means UTC. A string with the shape that is not a real date (``2025-02-30``) or lies
    outside the years 1970-9999 is :class:`InvalidInput`, not silently kept as text.
    """
    match = _ISO_RE.fullmatch(value)
    if match is None:
        return None
    parts = match.groupdict()
    fraction = (parts["fraction"] or "").ljust(6, "0")[:6]
    try:
        parsed = datetime(
            int(parts["year"]),
            int(parts["month"]),
            int(parts["day"]),
            int(parts["hour"] or 0),
            int(parts["minute"] or 0),
            int(parts["second"] or 0),
            int(fraction),
            tzinfo=_offset(parts["tz"]),
        )
    except ValueError as exc:
        raise InvalidInput(
            f"{what} {value!r} looks like an ISO-8601 date but is not valid: {exc}"
        ) from None
    return check_datetime(parsed, what=what)


def _offset(tz: str | None) -> timezone:
    if tz is None or tz in ("Z", "z"):
        return UTC
    digits = tz[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError(f"bad UTC offset {tz!r}")
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if tz[0] == "-" else delta)


def check_filter_value(value: Any, *, what: str) -> Any:
    """``value`` when it may be compared in a filter: text per the text rule, integers in
    64 bits, finite numbers; containers (JSON columns) are checked through."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return check_int64(value, what=what)
    if isinstance(value, float):
        return check_number(value, what=what)
    if isinstance(value, str):
        return check_text(value, what=f"{what}: value")
    if isinstance(value, Mapping):
        for key, item in value.items():
            check_text(str(key), what=f"{what}: key")
            check_filter_value(item, what=what)
    elif isinstance(value, list):
        for item in value:
            check_filter_value(item, what=what)
    return value


def check_record(record: object, *, what: str, paths: bool = False) -> Mapping[str, Any]:
    """``record`` when it may be written: a JSON object whose field names obey
    :func:`check_name` at every depth (top-level names may be dotted paths when ``paths``,
    as in the ``$set`` of an update) and whose values fit the stores."""
    if not isinstance(record, Mapping):
        raise InvalidInput(f"{what} must be a JSON object, got {type(record).__name__}")
    for key, value in record.items():
        if paths:
            check_path(key, what=f"{what}: field path")
        else:
            check_name(key, what=f"{what}: field name")
        _check_value(value, what=what, path=key, depth=1)
    return record


def _check_value(value: Any, *, what: str, path: str, depth: int) -> None:
    if depth > MAX_DOCUMENT_DEPTH:
        raise InvalidInput(f"{what}: field {path!r} nests deeper than {MAX_DOCUMENT_DEPTH} levels")
    if isinstance(value, Mapping):
        for key, item in value.items():
            check_name(key, what=f"{what}: field name", where=f" in {path!r}")
            _check_value(item, what=what, path=f"{path}.{key}", depth=depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_value(item, what=what, path=path, depth=depth + 1)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        check_int64(value, what=f"{what}: field {path!r}")
    elif isinstance(value, float):
        check_number(value, what=f"{what}: field {path!r}")
    elif isinstance(value, str):
        check_unicode(value, what=f"{what}: field {path!r}")
    elif isinstance(value, datetime):
        check_datetime(value, what=f"{what}: field {path!r}")


def update_fields(data: object) -> Mapping[str, Any]:
    """The fields an update sets: ``data`` itself, or the object of ``{"$set": {...}}``
    (the one update operator both stores take), checked by :func:`check_record` with paths."""
    if isinstance(data, Mapping) and any(str(key).startswith("$") for key in data):
        if list(data) != ["$set"]:
            raise InvalidInput(
                "update data takes plain fields or {'$set': {...}} only (other update "
                "operators are not supported)"
            )
        data = data["$set"]
    if not isinstance(data, Mapping) or not data:
        raise InvalidInput("update data must be a non-empty JSON object of fields to set")
    return check_record(data, what="update data", paths=True)


_PAIR_RE: Final = re.compile(r"[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*")
PAIR_SCHEMA: Final = {"pattern": rf"^{_PAIR_RE.pattern}$", "minLength": 2, "maxLength": 20}
"""A Binance symbol in any case: 2 to 20 ASCII letters and digits, at least one letter."""


def _pair(value: str) -> str:
    # ASCII first: str.upper() would turn 'ß' into 'SS' and accept what the schema refuses.
    if not 2 <= len(value) <= 20 or _PAIR_RE.fullmatch(value) is None:
        raise InvalidInput("pair must be a Binance symbol such as BTCUSDT")
    return value.upper()


def _period(value: str) -> str:
    if value not in TIMEFRAME_SECONDS:
        raise InvalidInput(f"period must be one of {', '.join(TIMEFRAME_SECONDS)}")
    return value


def _text(value: str) -> str:
    return check_text(value, what="the value")


def _datetime(value: datetime) -> datetime:
    return check_datetime(value)


Text = Annotated[str, AfterValidator(_text), Field(json_schema_extra={"pattern": TEXT_PATTERN})]
"""A string parameter: no control characters (see the module rules)."""
Offset = Annotated[int, Field(ge=0, le=MAX_OFFSET)]
"""Records to skip: 0 … 2**53 - 1."""
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
"""Any other integer parameter: a signed 64-bit value."""
# Records and updates are checked by check_record / update_fields in the queries (400 with
# the same message on both stores); the schemas only state the top-level rule.
Record = Annotated[
    dict[str, Any],
    WithJsonSchema({"type": "object", "propertyNames": {"pattern": NAME_PATTERN}}),
]
"""A record to write: field names per the name rule (at every depth, checked on write)."""
UpdateData = Annotated[
    dict[str, Any],
    WithJsonSchema(
        {"type": "object", "propertyNames": {"pattern": rf"^(\$set|{PATH_PATTERN[1:-1]})$"}}
    ),
]
"""Fields to set (dotted paths allowed), or ``{"$set": {...}}``."""
Pair = Annotated[str, AfterValidator(_pair), Field(json_schema_extra=PAIR_SCHEMA)]
"""A Binance symbol, case-insensitive in, upper-case out."""
Period = Annotated[
    str, AfterValidator(_period), Field(json_schema_extra={"enum": list(TIMEFRAME_SECONDS)})
]
"""A candle timeframe: ``1m`` ... ``1M``."""
UtcDateTime = Annotated[datetime, AfterValidator(_datetime)]
"""A date parameter: converted to aware UTC (naive means UTC), years 1970-9999."""


__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "MAX_DATETIME",
    "MAX_DOCUMENT_DEPTH",
    "MAX_OFFSET",
    "MIN_DATETIME",
    "NAME_PATTERN",
    "PATH_PATTERN",
    "TEXT_PATTERN",
    "Int64",
    "Offset",
    "Pair",
    "Period",
    "Record",
    "Text",
    "UpdateData",
    "UtcDateTime",
    "check_datetime",
    "check_filter_value",
    "check_int64",
    "check_name",
    "check_number",
    "check_path",
    "check_record",
    "check_text",
    "check_unicode",
    "parse_iso_datetime",
    "update_fields",
]

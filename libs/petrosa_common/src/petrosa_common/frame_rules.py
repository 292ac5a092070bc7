"""What a Binance futures frame must satisfy before anything of it is stored.

The rules, one function each (the parser applies them field by field; docs/ingestor.md lists
them per event type):

* **numbers** (prices, quantities, rates) arrive as decimal strings (Binance's format) or
  JSON numbers; never booleans, never ``"NaN"``/``"Infinity"``/``"1_000"`` or padded strings;
  always finite. Prices are ``> 0`` and at most :data:`MAX_PRICE`; quantities and volumes are
  ``>= 0`` and at most :data:`MAX_AMOUNT`; signed values (price change, funding rate) lie
  within ``±MAX_AMOUNT``.
* **ids** (trade, agg trade, update ids, counts) are JSON integers in ``[0, 2**63)``: no
  floats (they would be truncated), no strings, no booleans (JSON ``true`` is not ``1``).
* **flags** (``m``, ``k.x``) are JSON booleans: ``"false"`` is not false.
* **times** are JSON integers of epoch milliseconds within ``[2017-01-01, now + 1 day]``.
* **book levels** are exactly ``[price, quantity]`` pairs, at most ``max_levels`` per side.

Every violation raises :class:`FieldError` with the field named; the parser turns it into a
dead letter. Out-of-range values raise :class:`OutOfRange` (a :class:`FieldError`), so the
dead-letter reason says whether the shape or the value was wrong.
"""

from __future__ import annotations

from math import isfinite
from typing import Any

from petrosa_common.time import from_epoch_ms, now_ms

MAX_PRICE = 1e9
"""Highest price accepted (USDⓈ-M prices are far below: BTC is about 1e5)."""
MAX_AMOUNT = 1e15
"""Highest quantity, volume or absolute signed value accepted."""
MAX_ID = 2**63 - 1
"""Largest id BSON (and PostgreSQL ``bigint``) can hold."""
EARLIEST_MS = 1_483_228_800_000
"""2017-01-01T00:00:00Z: no Binance market data is older."""
FUTURE_SLACK_MS = 86_400_000
"""Times may run at most one day ahead of this machine's clock."""


class FieldError(ValueError):
    """A field of the wrong shape (missing, wrong JSON type, malformed text)."""


class OutOfRange(FieldError):
    """A well-formed value outside what a market can produce."""


# Each rule has a fast path for the wire's usual form (a plain decimal string within bounds)
# and falls back to the full checks, which explain what is wrong, for anything else.


def _plain(text: str) -> bool:
    # float() also takes what Binance never sends: "1_000", non-ASCII digits, padding (all
    # ASCII whitespace sorts before "!").
    return text.isascii() and "_" not in text and text[0] > " " < text[-1]


def _number(value: Any, name: str) -> float:
    kind = type(value)
    if kind is str:
        try:
            number = float(value)
        except ValueError:
            raise FieldError(f"{name}: not a decimal number ({value[:40]!r})") from None
        if not _plain(value) or (not isfinite(number) and "n" in value.lower()):
            raise FieldError(f"{name}: not a decimal number ({value[:40]!r})")  # nan, inf
    elif kind is float or kind is int:
        number = float(value)
    else:
        raise FieldError(f"{name}: expected a number, got {kind.__name__}")
    if not isfinite(number):
        raise OutOfRange(f"{name}: not a finite number ({value!r:.40})")
    return number


def price(value: Any, name: str) -> float:
    """A price: ``0 < price <= MAX_PRICE``."""
    if type(value) is str and value:
        try:
            number = float(value)
        except ValueError:
            number = 0.0
        if 0.0 < number <= MAX_PRICE and _plain(value):
            return number
    number = _number(value, name)
    if not 0.0 < number <= MAX_PRICE:
        raise OutOfRange(f"{name}: price {number!r} outside (0, {MAX_PRICE:g}]")
    return number


def quantity(value: Any, name: str) -> float:
    """A quantity or volume: ``0 <= quantity <= MAX_AMOUNT``."""
    if type(value) is str and value:
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if 0.0 <= number <= MAX_AMOUNT and _plain(value):
            return number
    number = _number(value, name)
    if not 0.0 <= number <= MAX_AMOUNT:
        raise OutOfRange(f"{name}: quantity {number!r} outside [0, {MAX_AMOUNT:g}]")
    return number


def signed(value: Any, name: str) -> float:
    """A signed value (price change, percent, funding rate): ``|value| <= MAX_AMOUNT``."""
    number = _number(value, name)
    if not -MAX_AMOUNT <= number <= MAX_AMOUNT:
        raise OutOfRange(f"{name}: {number!r} outside ±{MAX_AMOUNT:g}")
    return number


def optional(rule: Any, value: Any, name: str) -> float | None:
    """``rule(value)``, or ``None`` when the field is absent (``None`` or ``""``)."""
    return None if value is None or value == "" else float(rule(value, name))


def identifier(value: Any, name: str) -> int:
    """An id or count: a JSON integer in ``[0, MAX_ID]``."""
    if type(value) is not int:
        raise FieldError(f"{name}: expected an integer, got {type(value).__name__}")
    if not 0 <= value <= MAX_ID:
        raise OutOfRange(f"{name}: {value} outside [0, 2^63)")
    return value


def flag(value: Any, name: str) -> bool:
    """A JSON boolean (nothing else is read as one)."""
    if type(value) is not bool:
        raise FieldError(f"{name}: expected true or false, got {type(value).__name__}")
    return value


def latest_ms() -> int:
    """The latest epoch millisecond accepted now (this machine's clock plus one day)."""
    return now_ms() + FUTURE_SLACK_MS


def epoch_ms(value: Any, name: str, latest: int) -> int:
    """Epoch milliseconds, a JSON integer within ``[EARLIEST_MS, latest]``."""
    if type(value) is not int:
        raise FieldError(f"{name}: expected epoch milliseconds, got {type(value).__name__}")
    if not EARLIEST_MS <= value <= latest:
        raise OutOfRange(f"{name}: time {value} outside [2017-01-01, now + 1 day]")
    return value


utc = from_epoch_ms
"""An aware UTC datetime of epoch milliseconds (already checked by :func:`epoch_ms`)."""


def levels(value: Any, name: str, max_levels: int) -> list[tuple[float, float]]:
    """Book levels: a list of at most ``max_levels`` ``[price, quantity]`` pairs."""
    if type(value) is not list:
        raise FieldError(f"{name}: expected a list of [price, quantity] levels")
    if len(value) > max_levels:
        raise OutOfRange(f"{name}: {len(value)} levels, more than {max_levels}")
    result: list[tuple[float, float]] = []
    for level in value:
        if type(level) is not list or len(level) != 2:
            raise FieldError(f"{name}: level {str(level)[:40]!r} is not [price, quantity]")
        result.append((price(level[0], name), quantity(level[1], name)))
    return result

"""Binance's error payloads (``{"code": -1121, "msg": "Invalid symbol."}``) and the query
parameter validation that produces them."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

_LONG = re.compile(r"-?[0-9]{1,20}")
_LONG_RANGE = "^-?[0-9]{1,20}$"

INTERNAL_ERROR_MSG = "Internal error; unable to process your request. Please try again."


class BinanceError(Exception):
    """A request Binance would reject; rendered as ``{"code", "msg"}`` with ``status``."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status

    def payload(self) -> dict[str, Any]:
        """The JSON body Binance sends."""
        return {"code": self.code, "msg": self.msg}


def mandatory_missing(name: str) -> BinanceError:
    return BinanceError(
        -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def invalid_symbol() -> BinanceError:
    return BinanceError(-1121, "Invalid symbol.")


def invalid_interval() -> BinanceError:
    return BinanceError(-1120, "Invalid interval.")


def illegal_chars(name: str) -> BinanceError:
    return BinanceError(
        -1100, f"Illegal characters found in parameter '{name}'; legal range is '{_LONG_RANGE}'."
    )


def invalid_parameter(name: str) -> BinanceError:
    return BinanceError(-1130, f"Data sent for parameter '{name}' is not valid.")


def start_after_end() -> BinanceError:
    return BinanceError(-1023, "Start time is greater than end time.")


def window_too_long(hours: int) -> BinanceError:
    return BinanceError(-1127, f"More than {hours} hours between startTime and endTime.")


def symbol_param(
    params: Mapping[str, str], symbols: Collection[str], *, required: bool
) -> str | None:
    """The ``symbol`` parameter, checked against the listed ``symbols``."""
    value = params.get("symbol")
    if not value:
        if required:
            raise mandatory_missing("symbol")
        return None
    if value not in symbols:
        raise invalid_symbol()
    return value


def long_param(params: Mapping[str, str], name: str) -> int | None:
    """An optional integer (``LONG``) parameter."""
    value = params.get(name)
    if value is None:
        return None
    if not _LONG.fullmatch(value):
        raise illegal_chars(name)
    return int(value)


def limit_param(params: Mapping[str, str], *, default: int, maximum: int) -> int:
    """The ``limit`` parameter, within ``[1, maximum]``."""
    value = long_param(params, "limit")
    if value is None:
        return default
    if not 1 <= value <= maximum:
        raise invalid_parameter("limit")
    return value


def time_window(params: Mapping[str, str]) -> tuple[int | None, int | None]:
    """``startTime`` and ``endTime`` (each optional, start not after end)."""
    start, end = long_param(params, "startTime"), long_param(params, "endTime")
    if start is not None and end is not None and start > end:
        raise start_after_end()
    return start, end

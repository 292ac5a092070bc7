"""Conversions of kernel outputs to JSON-ready values (one home, so every family agrees)."""

from __future__ import annotations

import math

from petrosa_common.time import from_epoch_ms


def number(value: float) -> float | None:
    """``value`` as a plain float, or ``None`` when it is NaN or infinite (never stored)."""
    as_float = float(value)
    return as_float if math.isfinite(as_float) else None


def label(value: float) -> str:
    """Key of a numeric parameter in a result: ``1.0`` -> ``"1"``, ``0.5`` -> ``"0_5"``,
    ``1000.0`` -> ``"1000"`` (integral values lose their ``.0``; the decimal point becomes
    ``_`` because a MongoDB field name cannot hold ``.``)."""
    text = str(int(value)) if float(value).is_integer() else repr(float(value))
    return text.replace(".", "_")


def iso_utc(epoch_ms: int) -> str:
    """Epoch milliseconds as an ISO 8601 UTC timestamp (``2024-01-01T00:00:00+00:00``)."""
    return from_epoch_ms(int(epoch_ms)).isoformat()


__all__ = ["iso_utc", "label", "number"]

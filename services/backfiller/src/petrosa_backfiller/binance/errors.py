"""What can go wrong talking to Binance, as exceptions a backfill job can act on."""

from __future__ import annotations


class BinanceError(Exception):
    """Base class of every error raised by the Binance client."""


class BinanceRequestError(BinanceError):
    """Binance refused the request itself (4xx other than 429/418): retrying cannot help.

    ``code`` and ``msg`` are Binance's own (``-1121`` / ``"Invalid symbol."``); ``code`` is
    ``None`` when the body was not Binance's error JSON. The job fails with ``str(error)``.
    """

    def __init__(self, code: int | None, msg: str, *, status: int | None = None) -> None:
        self.code = code
        self.msg = msg
        self.status = status
        prefix = f"Binance error {code}" if code is not None else f"Binance HTTP {status}"
        super().__init__(f"{prefix}: {msg}")


class BinanceUnavailable(BinanceError):
    """Binance did not answer usefully after the bounded retries (5xx, timeouts, bans)."""

    def __init__(self, endpoint: str, attempts: int, last_error: str) -> None:
        self.endpoint = endpoint
        self.attempts = attempts
        self.last_error = last_error
        super().__init__(f"Binance {endpoint} unavailable after {attempts} attempts: {last_error}")


class BinanceResponseError(BinanceError):
    """A successful response whose body does not have the shape Binance documents."""


__all__ = ["BinanceError", "BinanceRequestError", "BinanceResponseError", "BinanceUnavailable"]

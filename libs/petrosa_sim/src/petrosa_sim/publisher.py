"""Publish simulated frames to NATS with core publish, at a steady rate or flat out."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

import nats

from petrosa_sim.frames import Frame

_log = logging.getLogger("petrosa_sim.publisher")
_BATCH = 1_000  # frames published between two looks at the clock when unthrottled
_PROGRESS_EVERY_S = 1.0


@dataclass(slots=True)
class PublishStats:
    """What a :func:`publish` run sent."""

    published: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    malformed: int = 0
    bare: int = 0
    bytes: int = 0
    elapsed: float = 0.0
    first_time_ms: int | None = None
    """Virtual time of the first frame sent."""
    last_time_ms: int | None = None
    """Virtual time of the last frame sent."""

    @property
    def rate(self) -> float:
        """Achieved messages per second of wall-clock time."""
        return self.published / self.elapsed if self.elapsed > 0 else 0.0

    def add(self, frame: Frame) -> None:
        """Count one published frame."""
        self.published += 1
        self.by_kind[frame.kind] += 1
        self.bytes += len(frame.payload)
        if frame.duplicate:
            self.duplicates += 1
        if frame.malformed:
            self.malformed += 1
        if frame.bare:
            self.bare += 1
        if self.first_time_ms is None:
            self.first_time_ms = frame.time_ms
        self.last_time_ms = frame.time_ms

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "messages_published": self.published,
            "by_kind": dict(sorted(self.by_kind.items())),
            "duplicates": self.duplicates,
            "malformed": self.malformed,
            "bare": self.bare,
            "bytes": self.bytes,
            "elapsed_seconds": round(self.elapsed, 3),
            "rate": round(self.rate, 1),
            "first_time_ms": self.first_time_ms,
            "last_time_ms": self.last_time_ms,
        }


async def publish(
    nats_url: str,
    subject: str,
    generator: Iterable[Frame],
    *,
    rate: float | None = None,
    duration: float | None = None,
    count: int | None = None,
    stop: asyncio.Event | None = None,
    progress: bool | None = None,
    progress_stream: TextIO | None = None,
) -> PublishStats:
    """Publish frames from ``generator`` to ``subject`` on the NATS server at ``nats_url``.

    ``rate`` caps messages per second (``None``: as fast as possible). The run ends after
    ``duration`` seconds, after ``count`` messages, when ``generator`` is exhausted, or when
    ``stop`` is set, whichever comes first; pending messages are flushed before returning.
    ``progress`` (default: when stderr is a terminal) prints a line about every second.
    Raises ``ValueError`` for a non-positive rate and whatever ``nats.connect`` raises when
    the server cannot be reached.
    """
    if rate is not None and rate <= 0:
        raise ValueError("rate must be positive (or None for unthrottled)")
    out = progress_stream if progress_stream is not None else sys.stderr
    if progress is None:
        progress = out.isatty()
    stats = PublishStats()
    frames = iter(generator)
    nc = await nats.connect(
        nats_url,
        name="petrosa-sim",
        connect_timeout=5,
        # A few quick retries: fail fast when nothing listens, ride out a server restart.
        max_reconnect_attempts=3,
        reconnect_time_wait=1,
        error_cb=_log_error,
    )
    start = time.monotonic()
    next_report = start + _PROGRESS_EVERY_S
    try:
        done = False
        while not done:
            now = time.monotonic()
            elapsed = now - start
            if (duration is not None and elapsed >= duration) or (stop and stop.is_set()):
                break
            if count is not None and stats.published >= count:
                break
            budget = _BATCH
            if rate is not None:
                # Messages due by now on a steady schedule; sleep until the next one if none.
                due = int(elapsed * rate) + 1 - stats.published
                if due <= 0:
                    wake = (stats.published / rate) - elapsed
                    if duration is not None:
                        wake = min(wake, duration - elapsed)
                    await asyncio.sleep(max(wake, 0.0005))
                    continue
                budget = min(due, _BATCH)
            if count is not None:
                budget = min(budget, count - stats.published)
            for _ in range(budget):
                frame = next(frames, None)
                if frame is None:
                    done = True
                    break
                await nc.publish(subject, frame.payload)
                stats.add(frame)
            if progress and now >= next_report:
                next_report = now + _PROGRESS_EVERY_S
                print(_progress_line(stats, elapsed), file=out, flush=True)
            # Let the client's flusher (and signal handlers) run between batches.
            await asyncio.sleep(0)
        await nc.flush(timeout=30)
    finally:
        stats.elapsed = time.monotonic() - start
        await nc.close()
    if progress:
        print(_progress_line(stats, stats.elapsed), file=out, flush=True)
    return stats


def _progress_line(stats: PublishStats, elapsed: float) -> str:
    rate = stats.published / elapsed if elapsed > 0 else 0.0
    return (
        f"petrosa-sim: {stats.published:,} published in {elapsed:.1f}s ({rate:,.0f} msg/s; "
        f"{stats.duplicates:,} duplicates, {stats.malformed:,} malformed)"
    )


async def _log_error(exc: Exception) -> None:
    # One line, no traceback: the default callback dumps a traceback per reconnect attempt.
    _log.warning("NATS: %r", exc)

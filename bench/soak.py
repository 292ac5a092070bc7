"""Soak benchmark: the `make dev` stack under the simulator, sampled every minute for a while.

Usage: ``uv run python -m bench.soak [--minutes 10] [--interval 60] [--settle-minutes 3]``
(starts the local servers if they are not up, like ``make infra-up``). Prints a row per sample,
the checks and a verdict, and writes ``bench/results/soak.json`` (every sample, the checks, the
Procfile that ran); honcho's output goes to ``.run/logs/soak.log``. ``--judge FILE`` runs
nothing and judges the samples of a saved JSON again under this version's criteria.

What runs is what ``make dev`` runs: ``honcho -f Procfile.dev start`` (the Procfile as it is
when the run starts), with the simulator at its Procfile rate. Only the environment file
differs: the URLs of ``.run/infra.env`` with a MongoDB database and a PostgreSQL database of the
run's own (``soak_<hex>``, created empty and dropped afterwards), so a run starts from fresh
data and never touches what ``make dev`` or the tests keep.

Each sample (every ``--interval`` seconds after the gateway answers): ``--requests`` rounds of
one sequential request to each endpoint (p50, p95 by nearest rank; rounds stop early once half
the interval is spent, so a slow gateway still gets sampled on time), the audit cycles the
auditor logged (``audit_cycle_completed``: ``duration_seconds``), every collection's document
count (``collStats``), and each Procfile entry's resident memory (its process tree, from
``/proc``).

Pass, over the samples taken after settling (earlier samples are printed and kept, not
judged). Sizes can only level off once retention has deleted past its horizon, so the default
``--settle-minutes`` is 3, or the longest market-data horizon the Procfile gives the auditor
(``RETENTION_*``, read through the auditor's own settings) plus one ``RETENTION_INTERVAL`` and
one sample, when the run still has 2 samples after that (``make dev``: 2 min + 15 s + 1 min);
a run too short for 3 minutes settles after a third of it.

* no upward trend: the last sample within ``--trend-ratio`` (1.5) x the first, for each
  endpoint's p50, the audit cycle and every collection under a horizon that has levelled off
  by then (candles and funding rates keep everything by design, and a horizon longer than the
  run cannot be seen working: both are reported, not judged) — a rise smaller than a tenth of
  the budget (50 ms, 0.5 s) or 1,000 documents counts as noise on a shared machine. "The
  first" and "the last" are the medians of the first and last :data:`END_SAMPLES` (5) settled
  samples (a third of them in a shorter run, one each below 6): on a 2-core machine one
  minute's p50 of a flat series ranges over 2x (a 60-minute run here: /data/trades 112 to
  231 ms, slope 0.3 ms a minute), so two single minutes compare noise, not trend;
* ``/data/*`` p95 under 500 ms in every sample, and no failed request;
* every audit cycle under 5 s;
* RSS flat: each entry's last sample within ``--rss-ratio`` (1.2) x its first, or 16 MiB above.

The exit code is 0 whatever the verdict unless ``--strict`` (then 1 on fail); 2 when the stack
could not run or stopped early, or ``--judge`` was given a file that is not a saved run; 130
when interrupted (Ctrl-C, SIGTERM). Whatever ends the run, the stack is stopped and the
samples taken so far are written.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from petrosa_auditor.retention import retention_targets
from petrosa_auditor.settings import AuditorSettings
from petrosa_common.naming import DatasetKind
from petrosa_devtools import infra
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from bench.devstack import (
    DevStack,
    auditor_settings,
    gateway_port,
    procfile_ports,
    tree_rss_bytes,
)
from bench.scratch import scratch_databases

ENDPOINTS: dict[str, dict[str, str | int]] = {
    "/data/candles": {"pair": "BTCUSDT", "period": "1m", "limit": 100},
    "/data/trades": {"pair": "BTCUSDT", "limit": 100},
    "/health/summary": {},
}
DATA_ENDPOINTS = ("/data/candles", "/data/trades")
SERIES_KINDS = frozenset(kind.value for kind in DatasetKind)
REQUEST_TIMEOUT_SECONDS = 30.0  # the gateway's own query deadline answers before this
MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """What a pass means (see the module docstring)."""

    trend_ratio: float = 1.5
    rss_ratio: float = 1.2
    data_p95_ms: float = 500.0
    audit_cycle_seconds: float = 5.0
    latency_noise_ms: float = 50.0
    audit_noise_seconds: float = 0.5
    documents_noise: int = 1000
    rss_noise_mib: float = 16.0


@dataclass(frozen=True, slots=True)
class Retention:
    """The auditor's retention as the Procfile configures it (seconds)."""

    horizons: dict[str, float | None]
    """By retention kind (dataset kinds, ``dead_letters``, ``analytics_history``); ``None``
    keeps everything."""
    interval_seconds: float

    @classmethod
    def of(cls, settings: AuditorSettings) -> Retention:
        horizons = settings.retention_horizons()
        return cls(
            horizons={
                str(kind): None if horizon is None else horizon.total_seconds()
                for kind, horizon in horizons.items()
            },
            interval_seconds=settings.retention_interval,
        )

    def levels_off_after(self, collection: str) -> float | None:
        """Seconds of running after which ``collection`` holds at most its horizon of data
        (the horizon plus one retention interval); ``None`` when retention keeps it whole."""
        horizons = {
            kind: None if seconds is None else timedelta(seconds=seconds)
            for kind, seconds in self.horizons.items()
        }
        for target in retention_targets([collection], horizons):
            return target.horizon.total_seconds() + self.interval_seconds
        return None

    def default_settle_seconds(self, run_seconds: float, interval: float) -> float:
        """3 minutes, or as long as the longest market-series horizon takes to level off
        (plus one sample) when that still leaves 2 samples; a third of a run too short for
        3 minutes."""
        levels = [
            horizon + self.interval_seconds + interval
            for kind, horizon in self.horizons.items()
            if kind in SERIES_KINDS and horizon is not None
        ]
        settle = max([180.0, *(s for s in levels if s <= run_seconds - interval)])
        return settle if settle <= run_seconds - interval else run_seconds / 3


@dataclass(frozen=True, slots=True)
class Latency:
    """One endpoint in one sample."""

    requests: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None
    max_ms: float | None


@dataclass(frozen=True, slots=True)
class Sample:
    """Everything measured at one point of the run."""

    index: int
    elapsed_seconds: float
    """Since the gateway first answered."""
    at: str
    settled: bool
    latency: dict[str, Latency]
    audit_cycles_seconds: list[float]
    """Cycles completed since the previous sample."""
    audit_last_cycle_seconds: float | None
    """The latest cycle completed so far."""
    collections: dict[str, int]
    bounded_documents: int
    """In the collections under a retention horizon."""
    other_documents: int
    count_seconds: float
    rss_mib: dict[str, float]
    log_errors: dict[str, int] = field(default_factory=dict)
    """Error-level log lines per Procfile entry since the previous sample."""
    retention_events: dict[str, int] = field(default_factory=dict)
    """Log events naming retention since the previous sample, by event."""


@dataclass(frozen=True, slots=True)
class Check:
    """One pass criterion and what the samples showed."""

    criterion: str
    passed: bool
    detail: str


def nearest_rank(ordered: Sequence[float], share: float) -> float:
    """The ``share`` percentile of sorted values by nearest rank (p95 of 20 is the 19th)."""
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def latency(seconds: list[float], errors: int) -> Latency:
    """Figures of one endpoint's answered requests (``errors`` did not answer 200)."""
    ordered = sorted(seconds)
    if not ordered:
        return Latency(errors, errors, None, None, None)
    return Latency(
        requests=len(ordered) + errors,
        errors=errors,
        p50_ms=nearest_rank(ordered, 0.5) * 1000,
        p95_ms=nearest_rank(ordered, 0.95) * 1000,
        max_ms=ordered[-1] * 1000,
    )


END_SAMPLES = 5
"""Settled samples whose median stands for the first (and the last) of a trend check."""


def end_window(count: int) -> int:
    """How many of ``count`` settled samples stand for each end of a trend:
    :data:`END_SAMPLES`, a third of a shorter series, at least one."""
    return max(1, min(END_SAMPLES, count // 3))


def ends(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    """The first and the last of a settled series for a trend check: the medians of its first
    and last :func:`end_window` values, ``None`` where a value in that window is missing."""
    size = end_window(len(values))

    def median(window: Sequence[float | None]) -> float | None:
        present = [value for value in window if value is not None]
        return statistics.median(present) if window and len(present) == len(window) else None

    return median(values[:size]), median(values[len(values) - size :])


def within(first: float, last: float, *, ratio: float, noise: float) -> bool:
    """No upward trend: ``last`` at most ``ratio`` x ``first``, or above it by less than the
    noise of one sample on a shared machine."""
    return last <= first * ratio or last - first <= noise


def evaluate(
    samples: Sequence[Sample], limits: Limits, retention: Retention, settle_seconds: float
) -> list[Check]:
    """The pass criteria over the settled samples (the module docstring states them)."""
    settled = [sample for sample in samples if sample.settled]
    checks = [
        Check(
            "at least 2 samples after settling",
            len(settled) >= 2,
            f"{len(settled)} of {len(samples)} samples settled",
        )
    ]
    if not settled:
        return checks
    last = settled[-1]
    window = end_window(len(settled))
    of_ends = f" (medians of the first and last {window})" if window > 1 else ""
    for endpoint in ENDPOINTS:
        a, b = ends([sample.latency[endpoint].p50_ms for sample in settled])
        ok = (
            a is not None
            and b is not None
            and within(a, b, ratio=limits.trend_ratio, noise=limits.latency_noise_ms)
        )
        checks.append(
            Check(f"{endpoint} p50 no upward trend", ok, f"{_ms(a)} -> {_ms(b)}{of_ends}")
        )
    for endpoint in DATA_ENDPOINTS:
        p95s = [sample.latency[endpoint].p95_ms for sample in settled]
        worst = max((p for p in p95s if p is not None), default=None)
        ok = worst is not None and None not in p95s and worst < limits.data_p95_ms
        checks.append(
            Check(
                f"{endpoint} p95 < {limits.data_p95_ms:.0f} ms",
                ok,
                f"worst {_ms(worst)}",
            )
        )
    failed = {
        endpoint: sum(sample.latency[endpoint].errors for sample in settled)
        for endpoint in ENDPOINTS
    }
    checks.append(
        Check(
            "no failed request",
            not any(failed.values()),
            ", ".join(f"{e} {n}" for e, n in failed.items()),
        )
    )
    cycles = [seconds for sample in settled for seconds in sample.audit_cycles_seconds]
    checks.append(
        Check(
            f"audit cycle < {limits.audit_cycle_seconds:g} s",
            bool(cycles) and max(cycles) < limits.audit_cycle_seconds,
            f"{len(cycles)} cycles, worst {max(cycles):.2f} s" if cycles else "no cycle",
        )
    )
    a_cycle, b_cycle = ends([sample.audit_last_cycle_seconds for sample in settled])
    checks.append(
        Check(
            "audit cycle no upward trend",
            a_cycle is not None
            and b_cycle is not None
            and within(
                a_cycle, b_cycle, ratio=limits.trend_ratio, noise=limits.audit_noise_seconds
            ),
            f"{_seconds(a_cycle)} -> {_seconds(b_cycle)}{of_ends}",
        )
    )
    judged = [
        name
        for name in sorted(last.collections)
        if (after := retention.levels_off_after(name)) is not None and after <= settle_seconds
    ]
    documents = {
        name: ends([float(sample.collections.get(name, 0)) for sample in settled])
        for name in judged
    }
    growing = [
        f"{name} {_documents(a)} -> {_documents(b)}"
        for name, (a, b) in documents.items()
        if a is None
        or b is None
        or not within(a, b, ratio=limits.trend_ratio, noise=limits.documents_noise)
    ]
    checks.append(
        Check(
            "retained collections no upward trend",
            bool(judged) and not growing,
            "; ".join(growing)
            or (
                f"{len(judged)} collections, "
                f"{sum(a or 0 for a, _ in documents.values()):.0f} -> "
                f"{sum(b or 0 for _, b in documents.values()):.0f} documents{of_ends}"
                if judged
                else f"nothing to judge: no horizon levels off by {_span(settle_seconds)} "
                "(run longer)"
            ),
        )
    )
    first = settled[0]
    grown = [
        f"{name} {first.rss_mib.get(name, 0):.0f} -> {mib:.0f} MiB"
        for name, mib in sorted(last.rss_mib.items())
        if not within(
            first.rss_mib.get(name, 0), mib, ratio=limits.rss_ratio, noise=limits.rss_noise_mib
        )
    ]
    checks.append(
        Check(
            "RSS flat",
            not grown,
            "; ".join(grown)
            or f"{sum(first.rss_mib.values()):.0f} -> {sum(last.rss_mib.values()):.0f} MiB",
        )
    )
    return checks


def _span(seconds: float) -> str:
    """A horizon for people: 90 s, 5 min, 60 min, 48 h, 90 d."""
    for unit, size, up_to in (("s", 1, 120), ("min", 60, 7200), ("h", 3600, 172_800)):
        if seconds < up_to:
            return f"{seconds / size:g} {unit}"
    return f"{seconds / 86_400:g} d"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def _documents(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


async def measure_latency(
    http: httpx.AsyncClient, rounds: int, budget: float
) -> dict[str, Latency]:
    """``rounds`` sequential requests to each endpoint, interleaved; stops after the round
    that passes ``budget`` seconds."""
    seconds: dict[str, list[float]] = {endpoint: [] for endpoint in ENDPOINTS}
    errors = dict.fromkeys(ENDPOINTS, 0)
    deadline = time.monotonic() + budget
    for _ in range(rounds):
        for endpoint, params in ENDPOINTS.items():
            started = time.perf_counter()
            try:
                response = await http.get(endpoint, params=params)
            except httpx.HTTPError:
                errors[endpoint] += 1
                continue
            if response.status_code == 200:
                seconds[endpoint].append(time.perf_counter() - started)
            else:
                errors[endpoint] += 1
        if time.monotonic() > deadline:
            break
    return {endpoint: latency(seconds[endpoint], errors[endpoint]) for endpoint in ENDPOINTS}


async def count_documents(db: AsyncDatabase[dict[str, Any]]) -> dict[str, int]:
    """Every collection's document count from ``collStats`` (metadata on MongoDB; on FerretDB
    1.24 about 50 x cheaper than ``estimated_document_count``, whose ``count`` command decodes
    the whole collection: 188 s for 60,000 documents, a load that distorted the audit cycles
    this benchmark measures)."""
    counts = {}
    for name in sorted(await db.list_collection_names()):
        try:
            counts[name] = int((await db.command("collStats", name))["count"])
        except (OperationFailure, KeyError):  # a server without collStats
            counts[name] = await db[name].estimated_document_count()
    return counts


def keep_event(event: str, level: str) -> bool:
    """The log events samples report: audit cycles, retention, errors."""
    return (
        event == "audit_cycle_completed" or "retention" in event or level in ("error", "critical")
    )


def print_header() -> None:
    print(
        f"{'min':>5}  {'candles p50/p95 ms':>18}  {'trades p50/p95 ms':>18}  "
        f"{'summary p50/p95 ms':>18}  {'audit s':>7}  {'bounded docs':>12}  "
        f"{'other docs':>10}  {'RSS MiB':>7}  errors"
    )


def print_sample(sample: Sample) -> None:
    def pair(endpoint: str) -> str:
        figures = sample.latency[endpoint]
        p50 = "-" if figures.p50_ms is None else f"{figures.p50_ms:.0f}"
        p95 = "-" if figures.p95_ms is None else f"{figures.p95_ms:.0f}"
        failed = f" ({figures.errors} failed)" if figures.errors else ""
        return f"{p50:>8} / {p95:<6}{failed}"

    audit = sample.audit_last_cycle_seconds
    marker = " " if sample.settled else "*"
    print(
        f"{sample.elapsed_seconds / 60:>4.1f}{marker}  {pair('/data/candles'):>18}  "
        f"{pair('/data/trades'):>18}  {pair('/health/summary'):>18}  "
        f"{'-' if audit is None else f'{audit:.2f}':>7}  {sample.bounded_documents:>12,}  "
        f"{sample.other_documents:>10,}  {sum(sample.rss_mib.values()):>7.0f}  "
        f"{sum(sample.log_errors.values())}",
        flush=True,
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the run")
    parser.add_argument("--interval", type=float, default=60.0, help="seconds between samples")
    parser.add_argument(
        "--settle-minutes",
        type=float,
        default=None,
        help="samples before this are reported but not judged (default: 3, or longer until "
        "the Procfile's longest market-data retention horizon levels off, if the run leaves 2 "
        "samples after that; a third of a shorter run)",
    )
    parser.add_argument("--requests", type=int, default=20, help="requests per endpoint/sample")
    defaults = Limits()
    parser.add_argument(
        "--trend-ratio",
        type=float,
        default=defaults.trend_ratio,
        help="most a settled figure may grow from the first settled samples to the last "
        f"(medians of {END_SAMPLES})",
    )
    parser.add_argument(
        "--rss-ratio",
        type=float,
        default=defaults.rss_ratio,
        help="most an entry's RSS may grow from the first settled sample to the last",
    )
    parser.add_argument(
        "--startup-timeout", type=float, default=120.0, help="seconds for the gateway to answer"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when the verdict is fail")
    parser.add_argument(
        "--output", type=Path, default=Path("bench/results/soak.json"), help="JSON results"
    )
    parser.add_argument(
        "--judge",
        type=Path,
        metavar="JSON",
        help="run nothing: judge the samples of a soak's saved JSON again, with this version's "
        "criteria and the ratios given here, and print the checks and the verdict",
    )
    args = parser.parse_args()
    if args.interval <= 0 or args.minutes * 60 < args.interval:
        parser.error("--interval must be positive and fit in --minutes")
    if args.settle_minutes is not None and args.settle_minutes >= args.minutes:
        parser.error("--settle-minutes must be shorter than --minutes")
    return args


async def wait_for_gateway(stack: DevStack, http: httpx.AsyncClient) -> None:
    """Return once the gateway answers; raise if the stack stops first."""
    while True:
        if not stack.running:
            raise RuntimeError(f"the stack stopped while starting; its output:\n{stack.log_tail()}")
        try:
            if (await http.get("/health/liveness", timeout=2)).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.5)


async def soak(
    args: argparse.Namespace,
    retention: Retention,
    settle_seconds: float,
    stack: DevStack,
    db: AsyncDatabase[dict[str, Any]],
    api_url: str,
    samples: list[Sample],
) -> None:
    """Start the stack, then sample it on schedule (into ``samples``) until the run's length
    is up."""
    async with httpx.AsyncClient(base_url=api_url, timeout=REQUEST_TIMEOUT_SECONDS) as http:
        stack.start()
        try:
            async with asyncio.timeout(args.startup_timeout):
                await wait_for_gateway(stack, http)
        except TimeoutError:
            raise RuntimeError(
                f"the gateway did not answer within {args.startup_timeout:g} s; the stack's "
                f"output:\n{stack.log_tail()}"
            ) from None
        started = time.monotonic()
        print(f"gateway answers at {api_url}; sampling every {args.interval:g} s", flush=True)
        print_header()
        count = int(args.minutes * 60 // args.interval)
        previous = started
        last_cycle: float | None = None
        for index in range(1, count + 1):
            due = started + index * args.interval
            while time.monotonic() < due:
                if not stack.running:
                    raise RuntimeError(f"the stack stopped; its output:\n{stack.log_tail()}")
                await asyncio.sleep(min(1.0, max(0.0, due - time.monotonic())))
            elapsed = time.monotonic() - started
            figures = await measure_latency(http, args.requests, args.interval / 2)
            counted = time.perf_counter()
            collections = await count_documents(db)
            count_seconds = time.perf_counter() - counted
            rss = tree_rss_bytes(stack.pids())
            now = time.monotonic()
            events = [event for event in stack.events(previous) if event.at < now]
            previous = now
            cycles = [
                event.duration_seconds
                for event in events
                if event.event == "audit_cycle_completed" and event.duration_seconds is not None
            ]
            last_cycle = cycles[-1] if cycles else last_cycle
            sample = Sample(
                index=index,
                elapsed_seconds=round(elapsed, 1),
                at=datetime.now(UTC).isoformat(),
                settled=elapsed >= settle_seconds,
                latency=figures,
                audit_cycles_seconds=cycles,
                audit_last_cycle_seconds=last_cycle,
                collections=collections,
                bounded_documents=sum(
                    n for c, n in collections.items() if retention.levels_off_after(c)
                ),
                other_documents=sum(
                    n for c, n in collections.items() if not retention.levels_off_after(c)
                ),
                count_seconds=round(count_seconds, 3),
                rss_mib={name: round(size / MIB, 1) for name, size in sorted(rss.items())},
                log_errors=dict(
                    Counter(e.process for e in events if e.level in ("error", "critical"))
                ),
                retention_events=dict(Counter(e.event for e in events if "retention" in e.event)),
            )
            samples.append(sample)
            print_sample(sample)


def report(
    samples: Sequence[Sample],
    checks: Sequence[Check],
    retention: Retention,
    settle_seconds: float,
) -> None:
    if samples:
        first, last = samples[0], samples[-1]
        print("\nRSS MiB per Procfile entry (first -> last sample)")
        for name in sorted(last.rss_mib):
            print(f"  {name:<14} {first.rss_mib.get(name, 0):7.1f} -> {last.rss_mib[name]:7.1f}")
        print(
            "documents per collection (first -> last sample; * judged: retention levels it "
            "off before settling, + under a longer horizon, not judged)"
        )
        for name in sorted(last.collections):
            after = retention.levels_off_after(name)
            mark = " " if after is None else "*" if after <= settle_seconds else "+"
            before = first.collections.get(name, 0)
            print(f" {mark}{name:<28} {before:>10,} -> {last.collections[name]:>10,}")
    print("\nchecks (samples marked * above are before settling and not judged)")
    for check in checks:
        print(f"  {'PASS' if check.passed else 'FAIL'}  {check.criterion:<40} {check.detail}")


def saved_run(result: dict[str, Any]) -> tuple[list[Sample], Retention, float]:
    """The samples, retention and settling time of a soak's saved JSON."""
    parameters = result["parameters"]
    samples = [
        Sample(
            **{
                **sample,
                "latency": {e: Latency(**figures) for e, figures in sample["latency"].items()},
            }
        )
        for sample in result["samples"]
    ]
    return samples, Retention(**parameters["retention"]), parameters["settle_minutes"] * 60


def judge(path: Path, limits: Limits, *, strict: bool) -> int:
    """``--judge``: the checks and verdict of a saved run's samples under today's criteria."""
    try:
        result = json.loads(path.read_text())
        samples, retention, settle_seconds = saved_run(result)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"--judge {path}: not a soak's saved JSON ({exc!r})", file=sys.stderr)
        return 2
    checks = evaluate(samples, limits, retention, settle_seconds)
    passed = all(check.passed for check in checks)
    print(
        f"judging {path}: {len(samples)} samples of {result['when']} (saved verdict: "
        f"{result['verdict']})"
    )
    report(samples, checks, retention, settle_seconds)
    print(f"\nverdict: {'PASS' if passed else 'FAIL'}")
    return 1 if strict and not passed else 0


async def main() -> int:
    args = parse_args()
    limits = Limits(trend_ratio=args.trend_ratio, rss_ratio=args.rss_ratio)
    if args.judge is not None:
        return judge(args.judge, limits, strict=args.strict)
    root = infra.project_root()
    procfile = root / "Procfile.dev"
    procfile_text = procfile.read_text()
    retention = Retention.of(auditor_settings(procfile_text))
    settle_seconds = (
        retention.default_settle_seconds(args.minutes * 60, args.interval)
        if args.settle_minutes is None
        else args.settle_minutes * 60
    )
    busy = sorted(p for p in procfile_ports(procfile_text) if infra.port_in_use("127.0.0.1", p))
    if busy:
        print(
            f"ports {', '.join(map(str, busy))} are in use (is `make dev` running?): stop it first",
            file=sys.stderr,
        )
        return 2
    urls = infra.up(infra.read_env(), echo=False)
    name = f"soak_{uuid.uuid4().hex[:8]}"
    log_path = infra.run_dir() / "logs" / "soak.log"
    log_path.write_bytes(b"")
    samples: list[Sample] = []
    error: str | None = None
    # SIGTERM ends the run like Ctrl-C does: through the finally blocks that stop the stack.
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    async with scratch_databases(urls, name) as scratch:
        with tempfile.TemporaryDirectory() as folder:
            env_file = Path(folder) / "soak.env"
            env = {**urls.as_env(), "POSTGRES_URL": scratch.postgres_url}
            env["MONGODB_DATABASE"] = name
            env_file.write_text("".join(f"{key}={value}\n" for key, value in env.items()))
            stack = DevStack(
                root=root, procfile=procfile, env_file=env_file, log_path=log_path, keep=keep_event
            )
            print(f"soak: {args.minutes:g} min of `make dev` (databases {name}), log {log_path}")
            print(
                f"judged after {_span(settle_seconds)} (retention every "
                f"{_span(retention.interval_seconds)}; horizons: "
                + ", ".join(
                    f"{kind} {'keep' if h is None else _span(h)}"
                    for kind, h in retention.horizons.items()
                )
                + ")"
            )
            api_url = f"http://127.0.0.1:{gateway_port(procfile_text)}"
            try:
                await soak(
                    args, retention, settle_seconds, stack, scratch.mongo[name], api_url, samples
                )
            except RuntimeError as exc:
                error = str(exc)
            except asyncio.CancelledError:  # Ctrl-C or SIGTERM: report what was measured
                error = "interrupted"
            finally:
                code = stack.stop()
                print(f"stack stopped (honcho exit code {code})", flush=True)
    checks = evaluate(samples, limits, retention, settle_seconds)
    if error is not None:
        checks.insert(0, Check("the stack ran to the end", False, error.splitlines()[0]))
        print(error, file=sys.stderr)
    passed = all(check.passed for check in checks)
    report(samples, checks, retention, settle_seconds)
    print(f"\nverdict: {'PASS' if passed else 'FAIL'}")
    result = {
        "benchmark": "soak",
        "when": datetime.now(UTC).isoformat(),
        "machine": {
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "parameters": {
            "minutes": args.minutes,
            "interval_seconds": args.interval,
            "settle_minutes": settle_seconds / 60,
            "retention": asdict(retention),
            "requests_per_endpoint": args.requests,
            "endpoints": {e: str(httpx.QueryParams(p)) for e, p in ENDPOINTS.items()},
            "limits": asdict(limits),
        },
        "procfile": procfile_text,
        "databases": name,
        "log": str(log_path),
        "samples": [asdict(sample) for sample in samples],
        "checks": [asdict(check) for check in checks],
        "verdict": "pass" if passed else "fail",
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.output}")
    if error == "interrupted":
        return 130
    if error is not None:
        return 2
    return 1 if args.strict and not passed else 0


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except KeyboardInterrupt:  # a second Ctrl-C while stopping
        sys.exit(130)

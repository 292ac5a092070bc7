"""Analytics benchmark: one full cycle's computation for 8 symbols x 2 timeframes x 30 days of
1m-derived candles, then the incremental cycle (one new bar per series).

Usage: ``uv run python -m bench.analytics [--days 30] [--runs 5]`` (no servers: the frames are
in memory, as the leader holds them between cycles). Prints a table and writes
``bench/results/analytics.json``.

* full: every family of every series (1m: 43,200 bars; 15m: 2,880), regimes and both
  correlation matrices, at the service's default windows and warm-up.
* incremental: one new closed bar appended to every series, then the same computation (the
  work of a cycle after the first; reads are then one bar per series).
Goals: full < 3 s, incremental < 0.3 s. Times are medians of ``--runs`` runs, wall clock and
this process's CPU time (numpy/TA-Lib run single-threaded here, so on a busy machine the CPU
time is the steadier figure); peak RSS is the process's maximum resident set after all runs.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from petrosa_analytics.compute import timeframe_results
from petrosa_analytics.cycle import parameters_of
from petrosa_analytics.frames import SCHEMA
from petrosa_analytics.settings import CANDLE_FAMILIES, AnalyticsSettings

SYMBOLS = [f"{name}USDT" for name in ("BTC", "ETH", "BNB", "SOL", "XRP", "ADA", "DOGE", "AVAX")]
TIMEFRAMES = ("1m", "15m")
START = datetime(2024, 1, 1, tzinfo=UTC)


def minute_frame(seed: int, minutes: int) -> pl.DataFrame:
    """A seeded random walk of 1m candles."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, minutes)))
    open_ = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.0005, minutes)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.0005, minutes)))
    volume = rng.gamma(2.0, 10.0, minutes)
    start_ms = int(START.timestamp() * 1000)
    return pl.DataFrame(
        {
            "open_time": start_ms + np.arange(minutes, dtype=np.int64) * 60_000,
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": volume,
            "quote_volume": volume * close,
            "taker_buy_base_volume": volume * rng.uniform(0.3, 0.7, minutes),
            "trades_count": rng.integers(10, 500, minutes).astype(float),
        }
    ).with_columns(pl.col("open_time").cast(pl.Datetime("ms", "UTC")))


def derive(minutes: pl.DataFrame, every: str) -> pl.DataFrame:
    """Candles of a longer timeframe from 1m candles (open first, high max, ... sums)."""
    return (
        minutes.group_by_dynamic("open_time", every=every, closed="left", label="left")
        .agg(
            pl.col("open").first(),
            pl.col("high").max(),
            pl.col("low").min(),
            pl.col("close").last(),
            *(pl.col(c).sum() for c in ("volume", "quote_volume", "taker_buy_base_volume")),
            pl.col("trades_count").sum(),
        )
        .select(list(SCHEMA))
    )


def one_more(frame: pl.DataFrame, step_ms: int, keep: int) -> pl.DataFrame:
    """``frame`` with one new closed bar appended (and the oldest dropped past ``keep``)."""
    last = frame.tail(1)
    bar = last.with_columns(
        (pl.col("open_time") + pl.duration(milliseconds=step_ms)),
        pl.col("open").alias("open"),
    )
    return pl.concat([frame, bar]).tail(keep)


def run_compute(frames: dict[str, dict[str, pl.DataFrame]], settings: AnalyticsSettings) -> int:
    parameters = parameters_of(settings)
    at = datetime.now(UTC)
    results = 0
    for timeframe in TIMEFRAMES:
        windows = {family: settings.window_for(family, timeframe) for family in CANDLE_FAMILIES}
        computed = timeframe_results(
            frames[timeframe],
            timeframe=timeframe,
            windows=windows,
            parameters=parameters,
            computed_at=at,
            term=1,
        )
        if computed.failures:
            raise RuntimeError(f"failures: {computed.failures[:3]}")
        results += len(computed.results)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=30, help="days of 1m candles (default 30)")
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (default 5)")
    parser.add_argument("--output", type=Path, default=Path("bench/results/analytics.json"))
    args = parser.parse_args()
    settings = AnalyticsSettings(supported_pairs=SYMBOLS, analytics_timeframes=list(TIMEFRAMES))
    minutes = args.days * 1440
    frames: dict[str, dict[str, pl.DataFrame]] = {tf: {} for tf in TIMEFRAMES}
    for seed, symbol in enumerate(SYMBOLS):
        one_minute = minute_frame(seed, minutes)
        frames["1m"][symbol] = one_minute.tail(settings.bars_to_keep("1m"))
        frames["15m"][symbol] = derive(one_minute, "15m").tail(settings.bars_to_keep("15m"))

    full: list[float] = []
    incremental: list[float] = []
    full_cpu: list[float] = []
    incremental_cpu: list[float] = []
    results = 0
    for _ in range(args.runs):
        started, cpu = time.perf_counter(), time.process_time()
        results = run_compute(frames, settings)
        full.append(time.perf_counter() - started)
        full_cpu.append(time.process_time() - cpu)
        for timeframe, step in (("1m", 60_000), ("15m", 900_000)):
            keep = settings.bars_to_keep(timeframe)
            frames[timeframe] = {
                symbol: one_more(frame, step, keep) for symbol, frame in frames[timeframe].items()
            }
        started, cpu = time.perf_counter(), time.process_time()
        run_compute(frames, settings)
        incremental.append(time.perf_counter() - started)
        incremental_cpu.append(time.process_time() - cpu)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(),
        "machine": {"python": sys.version.split()[0], "platform": platform.platform()},
        "symbols": len(SYMBOLS),
        "timeframes": list(TIMEFRAMES),
        "bars_held": {tf: frames[tf][SYMBOLS[0]].height for tf in TIMEFRAMES},
        "results_per_cycle": results,
        "runs": args.runs,
        "full_cycle_compute_seconds": {"median": statistics.median(full), "all": full},
        "incremental_cycle_compute_seconds": {
            "median": statistics.median(incremental),
            "all": incremental,
        },
        "full_cycle_cpu_seconds": {"median": statistics.median(full_cpu), "all": full_cpu},
        "incremental_cycle_cpu_seconds": {
            "median": statistics.median(incremental_cpu),
            "all": incremental_cpu,
        },
        "peak_rss_mb": round(peak_rss_mb, 1),
        "goals": {"full_seconds": 3.0, "incremental_seconds": 0.3},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"series                        {len(SYMBOLS)} symbols x {', '.join(TIMEFRAMES)}")
    print(f"bars held per series          {report['bars_held']}")
    print(f"results per cycle             {results}")
    print(
        f"full cycle compute            {statistics.median(full):.3f} s median"
        f" of {args.runs} (goal < 3 s)"
    )
    print(
        f"incremental cycle compute     {statistics.median(incremental):.3f} s median"
        f" of {args.runs} (goal < 0.3 s)"
    )
    print(
        f"CPU time (process)            full {statistics.median(full_cpu):.3f} s,"
        f" incremental {statistics.median(incremental_cpu):.3f} s (medians; less sensitive"
        " to other load on the machine than the wall times above)"
    )
    print(f"peak RSS                      {peak_rss_mb:.0f} MB")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()

"""The soak benchmark's judgement (bench/soak.py): trends read through the ends of a settled
series, so one noisy minute is not a trend and a real rise still is."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from bench.soak import Check, Latency, Limits, Retention, Sample, ends, evaluate

RETENTION = Retention(horizons={"trades": 60.0}, interval_seconds=15.0)
SETTLE_SECONDS = 180.0


def sample(index: int, trades_p50_ms: float, *, trades: int = 3_000) -> Sample:
    """A settled sample whose figures are flat but for the trades p50 given."""
    flat = Latency(requests=20, errors=0, p50_ms=100.0, p95_ms=200.0, max_ms=250.0)
    trades_latency = Latency(20, 0, trades_p50_ms, trades_p50_ms * 1.5, trades_p50_ms * 2)
    return Sample(
        index=index,
        elapsed_seconds=SETTLE_SECONDS + 60.0 * index,
        at=f"2026-12-03T05:{index:02d}:00Z",
        settled=True,
        latency={
            "/data/candles": flat,
            "/data/trades": trades_latency,
            "/health/summary": flat,
        },
        audit_cycles_seconds=[0.5],
        audit_last_cycle_seconds=0.5,
        collections={"trades_BTCUSDT": trades},
        bounded_documents=trades,
        other_documents=0,
        count_seconds=0.01,
        rss_mib={"gateway": 130.0},
    )


def check(checks: list[Check], criterion: str) -> Check:
    return next(c for c in checks if c.criterion == criterion)


def test_ends_are_medians_of_five_samples_or_of_a_third_of_a_short_series() -> None:
    middle = [50.0] * 5
    assert ends([1.0, 9.0, 2.0, 3.0, 4.0, *middle, 60.0, 5.0, 70.0, 6.0, 80.0]) == (3.0, 60.0)
    assert ends([10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0]) == (15.0, 65.0)
    assert ends([10.0, 20.0]) == (10.0, 20.0)
    assert ends([None, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0]) == (None, 1.0)


def test_one_slow_last_minute_of_a_flat_series_is_not_a_trend() -> None:
    # A 60-minute run here: trades p50 between 112 and 231 ms with no slope; its first
    # settled minute read 123 ms and its last 201 ms.
    p50s = [123, 144, 168, 128, 128, 112, 215, 163, 156, 143, 146, 149, 127, 168, 137]
    p50s += [160, 144, 201]
    checks = evaluate(
        [sample(i, p) for i, p in enumerate(p50s)], Limits(), RETENTION, SETTLE_SECONDS
    )
    trend = check(checks, "/data/trades p50 no upward trend")
    assert trend.passed, trend.detail
    assert trend.detail == "128 ms -> 160 ms (medians of the first and last 5)"


def test_a_rising_series_is_a_trend_even_when_its_last_minute_is_quiet() -> None:
    p50s = [100.0 + 10 * i for i in range(20)] + [120.0]
    checks = evaluate(
        [sample(i, p) for i, p in enumerate(p50s)], Limits(), RETENTION, SETTLE_SECONDS
    )
    trend = check(checks, "/data/trades p50 no upward trend")
    assert not trend.passed
    assert trend.detail == "120 ms -> 270 ms (medians of the first and last 5)"


def test_a_collection_that_keeps_growing_fails_and_one_that_levels_off_passes() -> None:
    growing = [sample(i, 100.0, trades=3_000 + 1_000 * i) for i in range(15)]
    flat = [sample(i, 100.0, trades=3_000 + (500 if i % 2 else 0)) for i in range(15)]
    grown = check(
        evaluate(growing, Limits(), RETENTION, SETTLE_SECONDS),
        "retained collections no upward trend",
    )
    level = check(
        evaluate(flat, Limits(), RETENTION, SETTLE_SECONDS),
        "retained collections no upward trend",
    )
    assert not grown.passed
    assert grown.detail == "trades_BTCUSDT 5000 -> 15000"
    assert level.passed, level.detail


def test_judge_reads_a_saved_run_again(tmp_path: Path) -> None:
    p50s = [100.0 + 10 * i for i in range(20)]
    saved = tmp_path / "soak.json"
    saved.write_text(
        json.dumps(
            {
                "when": "2026-12-03T06:20:00+00:00",
                "verdict": "pass",
                "parameters": {"retention": asdict(RETENTION), "settle_minutes": 3.0},
                "samples": [asdict(sample(i, p)) for i, p in enumerate(p50s)],
            }
        )
    )
    run = subprocess.run(
        [sys.executable, "-m", "bench.soak", "--judge", str(saved), "--strict"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parents[1],
    )
    assert run.returncode == 1, run.stderr
    assert "FAIL  /data/trades p50 no upward trend" in run.stdout
    assert "saved verdict: pass" in run.stdout
    assert run.stdout.rstrip().endswith("verdict: FAIL")


@pytest.mark.parametrize("size", [0, 1])
def test_a_run_without_two_settled_samples_fails(size: int) -> None:
    checks = evaluate([sample(i, 100.0) for i in range(size)], Limits(), RETENTION, SETTLE_SECONDS)
    assert not checks[0].passed


@pytest.mark.parametrize("content", [None, "not json\x07", "[]", '{"samples": [{"x": 1}]}'])
def test_judge_refuses_a_file_that_is_not_a_saved_run(tmp_path: Path, content: str | None) -> None:
    saved = tmp_path / "soak.json"
    if content is not None:
        saved.write_text(content)
    run = subprocess.run(
        [sys.executable, "-m", "bench.soak", "--judge", str(saved)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parents[1],
    )
    assert run.returncode == 2
    assert "not a soak's saved JSON" in run.stderr
    assert "Traceback" not in run.stderr

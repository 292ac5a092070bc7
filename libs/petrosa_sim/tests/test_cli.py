"""The petrosa-sim command line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from petrosa_sim.__main__ import build_parser, main


def test_publish_defaults_follow_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_URL", "nats://example:4222")
    monkeypatch.setenv("NATS_CONSUMER_SUBJECT", "custom.subject")
    args = build_parser().parse_args(["publish"])
    assert args.nats_url == "nats://example:4222"
    assert args.subject == "custom.subject"
    assert args.symbols == ["BTCUSDT", "ETHUSDT"]
    assert args.intervals == ["1m", "5m", "15m", "1h"]
    assert args.start is None
    assert args.partial_book_rate == 0.05


def test_publish_defaults_without_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NATS_URL", raising=False)
    monkeypatch.delenv("NATS_CONSUMER_SUBJECT", raising=False)
    args = build_parser().parse_args(["publish"])
    assert args.nats_url == "nats://localhost:4222"
    assert args.subject == "binance.futures.websocket.data"


def test_publish_options_are_parsed() -> None:
    args = build_parser().parse_args(
        [
            "publish",
            "--symbols",
            "btcusdt, solusdt",
            "--rate",
            "0",
            "--start",
            "2024-01-01T00:00:00Z",
            "--intervals",
            "1m,1h",
            "--duplicate-rate",
            "0.1",
            "--gap",
            "BTCUSDT:1m:2024-01-01T00:05:00Z/2024-01-01T00:10:00Z",
            "--gap",
            "ETHUSDT:*:1704067200000/1704067260000",
        ]
    )
    assert args.symbols == ["BTCUSDT", "SOLUSDT"]
    assert args.rate == 0
    assert args.start == 1_704_067_200_000
    assert args.intervals == ["1m", "1h"]
    assert args.duplicate_rate == 0.1
    assert [tuple(g) for g in args.gap] == [
        ("BTCUSDT", "1m", 1_704_067_500_000, 1_704_067_800_000),
        ("ETHUSDT", None, 1_704_067_200_000, 1_704_067_260_000),
    ]


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["publish", "--intervals", "7m"],
        ["publish", "--duplicate-rate", "2"],
        ["publish", "--kinds", "bookTicker"],
        ["publish", "--start", "yesterday"],
        ["publish", "--gap", "BTCUSDT:1m"],
    ],
)
def test_bad_command_lines_exit_with_usage_error(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(argv)
    assert exit_info.value.code == 2


def test_publish_prints_a_json_summary(
    sim_nats_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "publish",
            "--nats-url",
            sim_nats_url,
            "--subject",
            "sim.test.cli",
            "--rate",
            "0",
            "--count",
            "300",
            "--start",
            "2024-01-01T00:00:00Z",
            "--malformed-rate",
            "0.1",
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["messages_published"] == 300
    assert sum(summary["by_kind"].values()) == 300
    assert summary["malformed"] == summary["by_kind"]["malformed"] > 0
    assert summary["virtual_start_ms"] == 1_704_067_200_000
    assert summary["symbols"] == ["BTCUSDT", "ETHUSDT"]
    for key in ("duplicates", "elapsed_seconds", "rate", "subject"):
        assert key in summary


def test_impossible_fault_mix_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["publish", "--duplicate-rate", "0.6", "--malformed-rate", "0.6"])
    assert code == 2
    assert "below 1" in capsys.readouterr().err


def test_unreachable_nats_fails_with_a_message() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "petrosa_sim", "publish", "--nats-url", "nats://127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "cannot publish to nats://127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.stderr

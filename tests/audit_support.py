"""Support for end-to-end tests around the auditor: live candles with known gaps, and one
audit cycle in a real auditor process."""

from __future__ import annotations

import asyncio
from pathlib import Path

from petrosa_devtools.infra import InfraUrls
from petrosa_devtools.processes import ServiceProcess, free_port
from petrosa_sim.faults import FaultConfig, GapWindow
from petrosa_sim.frames import Frame, FrameGenerator
from petrosa_sim.kinds import KLINE

MINUTE = 60_000


def gapped_kline_frames(now_ms: int) -> tuple[list[Frame], GapWindow, GapWindow]:
    """BTCUSDT 1m kline frames from 130 minutes before ``now_ms`` (before the audited 2 h
    window) to ``now_ms``, without the candles of two gaps: 15 and 10 minutes."""
    minute_now = now_ms - now_ms % MINUTE
    gap_a = GapWindow("BTCUSDT", "1m", minute_now - 100 * MINUTE, minute_now - 85 * MINUTE)
    gap_b = GapWindow("BTCUSDT", "1m", minute_now - 40 * MINUTE, minute_now - 30 * MINUTE)
    generator = FrameGenerator(
        ["BTCUSDT"],
        seed=8,
        start_ms=minute_now - 130 * MINUTE,
        intervals=("1m",),
        kinds={KLINE},
        faults=FaultConfig(gaps=(gap_a, gap_b), partial_book_rate=0.0),
    )
    frames = []
    while generator.now_ms < now_ms:
        frames.append(generator.next_frame())
    assert {(s, i, o) for s, i, o in generator.suppressed_candles} == {
        ("BTCUSDT", "1m", o)
        for window in (gap_a, gap_b)
        for o in range(window.start_ms, window.end_ms, MINUTE)
    }
    return frames, gap_a, gap_b


async def run_auditor_once(
    infra: InfraUrls, *, database: str, postgres_url: str, log: Path, **extra: str
) -> str:
    """One leader-elected audit cycle of BTCUSDT 1m over the last 2 h with auto-backfill on
    (``petrosa-auditor --once``); asserts it exits 0 and returns its log."""
    auditor = ServiceProcess(
        [*ServiceProcess.python_module("petrosa_auditor", {}, log).command, "--once"],
        {
            "NATS_URL": infra.nats_url,
            "MONGODB_URL": infra.mongodb_url,
            "MONGODB_DATABASE": database,
            "POSTGRES_URL": postgres_url,
            "SUPPORTED_PAIRS": "BTCUSDT",
            "AUDIT_TIMEFRAMES": "1m",
            "AUDIT_LOOKBACK": "7200",
            "MIN_GAP_SIZE_SECONDS": "180",
            "ENABLE_AUTO_BACKFILL": "true",
            "MIN_AUTO_BACKFILL_GAP": "600",
            "LEADER_ELECTION_TIMEOUT": "3",
            "LEADER_ELECTION_HEARTBEAT_INTERVAL": "0.5",
            "HEALTH_PORT": str(free_port()),
            "METRICS_PORT": "0",
            **extra,
        },
        log,
    )
    auditor.start()
    assert auditor.process is not None
    exit_code = await asyncio.to_thread(auditor.process.wait, 90)
    text = auditor.log_tail(100_000)
    assert exit_code == 0, text
    return text

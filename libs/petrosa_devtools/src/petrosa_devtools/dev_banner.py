"""The banner of `make dev`: where the API docs, health and metrics are, and how to stop.

``python -m petrosa_devtools.dev_banner`` is an entry of ``Procfile.dev``: it waits until the
gateway answers, prints the banner (after the start-up noise, where it is seen), then stays
alive until honcho stops it, because honcho stops every entry as soon as one exits.

The addresses come from ``Procfile.dev`` itself (each entry's ``API_PORT``, ``METRICS_PORT``,
``HEALTH_PORT`` and ``--port``), so the banner cannot disagree with what runs.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import FrameType

from petrosa_devtools.procfile import ProcfileEntry, read_procfile


def banner(entries: dict[str, ProcfileEntry], *, host: str = "localhost") -> str:
    """The banner text for the stack that ``entries`` describe."""
    api = f"http://{host}:{entries['gateway'].port('API_PORT')}"
    lines = [
        "Petrosa Data Manager is running (make dev).",
        f"  API docs        {api}/docs  (ReDoc: {api}/redoc)",
        f"  Dataset health  {api}/health/summary",
        f"                  one series: {api}/health?pair=BTCUSDT&period=1m",
        "                  A fresh run holds minutes of the audit window, so datasets start",
        "                  critical; the auditor asks the backfiller for the missing history",
        "                  from the fake Binance and they turn healthy within a few minutes.",
        f'  Data            curl "{api}/data/candles?pair=BTCUSDT&period=1m&limit=5"',
    ]
    label = "  Metrics".ljust(_INDENT)
    for name in (name for name in entries if name in _SERVICES):
        entry = entries[name]
        line = f"{label}http://{host}:{entry.port('METRICS_PORT')}/metrics  {name:<10}"
        if name != "gateway" and (health := entry.port("HEALTH_PORT")):
            line += f"  (health: :{health}/health/readiness)"
        lines.append(line.rstrip())
        label = " " * _INDENT
    fake = entries.get("fake-binance")
    if fake is not None and (fake_port := fake.option("--port")):
        lines.append(f"  Fake Binance    http://{host}:{fake_port}/_fake/stats")
    lines += [
        "  Stop            Ctrl-C stops these processes; NATS, PostgreSQL and FerretDB keep",
        "                  running with their data in .run/: `make infra-down` stops them,",
        "                  `make clean` also deletes the data.",
    ]
    rule = "=" * max(len(line) for line in lines)
    return "\n".join([rule, *lines, rule])


_SERVICES = ("gateway", "ingestor", "auditor", "backfiller", "analytics")
_INDENT = 18


def wait_for_gateway(url: str, timeout: float) -> bool:
    """Whether ``url`` answered 200 within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback)
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    return False


def main(argv: list[str] | None = None) -> int:
    """Print the banner once the gateway answers, then wait for SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m petrosa_devtools.dev_banner")
    parser.add_argument("--procfile", type=Path, help="default: the project's Procfile.dev")
    parser.add_argument(
        "--wait", type=float, default=120, help="seconds to wait for the gateway (default: 120)"
    )
    parser.add_argument("--exit", action="store_true", help="exit after printing")
    args = parser.parse_args(argv)
    entries = read_procfile(args.procfile)
    port = entries["gateway"].port("API_PORT")
    answered = wait_for_gateway(f"http://127.0.0.1:{port}/health/liveness", args.wait)
    text = banner(entries)
    if not answered:
        text += f"\n(the gateway did not answer within {args.wait:g} s: see its lines above)"
    print(text, flush=True)
    if args.exit:
        return 0
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    while not stop.wait(3600):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

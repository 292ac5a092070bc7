"""Serving the fake Binance over real HTTP: in a background thread (tests) or in the
foreground (the ``petrosa-sim binance`` command)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from starlette.applications import Starlette

from petrosa_sim.binance.app import BinanceConfig, BinanceFake, create_binance_app


@dataclass(frozen=True, slots=True)
class RunningFake:
    """A fake Binance listening on ``url`` (e.g. ``http://127.0.0.1:41234``)."""

    url: str
    app: Starlette

    @property
    def fake(self) -> BinanceFake:
        """Its state: flip ``fake.faults``, read ``fake.stats``."""
        fake: BinanceFake = self.app.state.fake
        return fake


def _uvicorn_config(app: Starlette, host: str, port: int, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        lifespan="off",
        ws="none",
    )


@contextmanager
def run_binance_fake(
    config: BinanceConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    startup_timeout: float = 10.0,
) -> Iterator[RunningFake]:
    """Serve a fake Binance with uvicorn in a daemon thread while the block runs
    (``port=0`` picks a free port)."""
    app = create_binance_app(config)
    server = uvicorn.Server(_uvicorn_config(app, host, port, "warning"))
    thread = threading.Thread(target=server.run, name="fake-binance", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"fake Binance did not start on {host}:{port}")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield RunningFake(f"http://{host}:{bound}", app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def serve_forever(config: BinanceConfig, *, host: str, port: int, log_level: str) -> None:
    """Serve in the foreground until SIGINT/SIGTERM."""
    uvicorn.Server(_uvicorn_config(create_binance_app(config), host, port, log_level)).run()

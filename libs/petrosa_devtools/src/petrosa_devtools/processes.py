"""Run services as real processes in tests: start, wait until ready, kill -9, stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path


def free_port() -> int:
    """A TCP port that is free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServiceProcess:
    """One process (a service or a server) with its own environment and log file."""

    def __init__(self, command: list[str], env: dict[str, str], log_path: Path) -> None:
        self.command = command
        self.module = command[-1]
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.health_port = int(env.get("HEALTH_PORT", "0"))
        self.process: subprocess.Popen[bytes] | None = None

    @classmethod
    def python_module(cls, module: str, env: dict[str, str], log_path: Path) -> ServiceProcess:
        """``python -m module`` with this interpreter."""
        return cls([sys.executable, "-m", module], env, log_path)

    def start(self) -> ServiceProcess:
        """Start the process (appending to its log)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        return self

    def wait_until(self, ready: Callable[[], bool], timeout: float = 30.0) -> None:
        """Wait until ``ready()`` holds; fails with the log tail if the process dies first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"{self.module} exited early:\n{self.log_tail()}")
            if ready():
                return
            time.sleep(0.1)
        raise AssertionError(f"{self.module} not ready after {timeout} s:\n{self.log_tail()}")

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until ``/health/readiness`` answers 200 (fails with the log tail otherwise)."""
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.health_port}/health/readiness"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"{self.module} exited early:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise AssertionError(f"{self.module} not ready after {timeout} s:\n{self.log_tail()}")

    def kill9(self) -> None:
        """SIGKILL: no shutdown code runs, in-flight work is lost."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM and wait for a graceful exit; returns the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.process.returncode

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self.process is not None and self.process.poll() is None

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the process log."""
        if not self.log_path.exists():
            return "(no log)"
        return self.log_path.read_text(errors="replace")[-chars:]

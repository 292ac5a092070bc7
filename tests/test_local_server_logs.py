"""The local servers do not log a line per duplicate-key insert (`make dev` makes about sixty a
second: every update of an open candle starts with one), and still log what matters."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from petrosa_devtools import infra
from petrosa_devtools.processes import ServiceProcess, free_port
from pymongo import MongoClient
from pymongo.errors import DuplicateKeyError, OperationFailure


def test_ferretdb_logs_no_duplicate_key_query_but_still_logs_other_failures(
    postgres_url: str, tmp_path: Path
) -> None:
    # A FerretDB of this test's own on the PostgreSQL handler, storing in this test's database.
    port = free_port()
    mongodb_url = f"mongodb://127.0.0.1:{port}"
    log = tmp_path / "ferretdb.log"
    server = ServiceProcess(
        [
            str(infra.ferretdb_binary()),
            "--listen-addr",
            f"127.0.0.1:{port}",
            "--handler",
            "postgresql",
            "--postgresql-url",
            postgres_url,
        ],
        {},
        log,
    )
    server.start()
    try:
        server.wait_until(lambda: infra.mongo_answers(mongodb_url))
        client: MongoClient[dict[str, Any]]
        with MongoClient(mongodb_url, serverSelectionTimeoutMS=5000) as client:
            items = client["logs"]["items"]
            items.insert_one({"_id": "first-of-its-key"})
            with pytest.raises(DuplicateKeyError):
                items.insert_one({"_id": "first-of-its-key"})
            with pytest.raises(OperationFailure):
                client["logs"].command("noSuchCommandForTheLog")
    finally:
        server.stop()
    written = log.read_text(errors="replace")
    assert "noSuchCommandForTheLog" in written  # a failed command is still logged
    assert "23505" not in written
    assert "first-of-its-key" not in written


def test_postgresql_logs_its_own_events_but_not_errors_returned_to_clients(
    postgres_url: str,
) -> None:
    # petrosa-infra keeps the log beside the data directory (whichever checkout started it).
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute("SHOW data_directory").fetchone()
    assert row is not None
    server_log = Path(row[0]).parent / "logs" / "postgres.log"
    if not server_log.exists():
        pytest.skip("the PostgreSQL server was not started by petrosa-infra (no log to read)")
    refused, logged = f"refused-{uuid.uuid4().hex}", f"logged-{uuid.uuid4().hex}"
    start = server_log.stat().st_size
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE keyed (id text PRIMARY KEY)")
        conn.execute("INSERT INTO keyed VALUES (%s)", (refused,))
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("INSERT INTO keyed VALUES (%s)", (refused,))
        # A message at level LOG, written after the error: once it is in the file, the error
        # would be too.
        conn.execute(f"DO $$ BEGIN RAISE LOG '{logged}'; END $$")
    deadline = time.monotonic() + 10
    while logged not in (written := _read_from(server_log, start)):
        assert time.monotonic() < deadline, f"{logged} never reached {server_log}"
        time.sleep(0.1)
    assert refused not in written


def _read_from(path: Path, offset: int) -> str:
    with path.open("rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace")

"""FerretDB handler benchmark: the SQLite and PostgreSQL backends on the project's own work.

Usage: ``uv run python -m bench.ferretdb_handlers [--candles 20000] [--repeats 5]
[--house-benches]`` (needs ``make infra-up``: the local PostgreSQL and the launcher in
``.run/bin``). It starts its own FerretDB per handler on a free loopback port — SQLite in a
temporary directory, PostgreSQL in a scratch database of the local server — so the servers of
``make infra-up`` are neither used nor touched, and deletes both afterwards. Prints a table and
writes ``bench/results/ferretdb_handlers.json``.

Per handler, on ``--candles`` closed 1m candles of one symbol in one collection (with the
``timestamp`` index the writers create), each figure the median of ``--repeats`` runs:

* writes as the ingestor makes them (:class:`~petrosa_common.series_writer.SeriesWriter`):
  new candles in batches of ``--batch-size`` (median batch rate), the same batch redelivered
  (nothing to write), and ``--updates`` candles brought to a newer version (one conditional
  ``update_one`` each, as open candles evolve);
* an ``_id`` lookup (``find_one``), an equality filter on a field without an index
  (``{"close": x}``, one match), and the gateway's own reads (``read_series``): the latest page
  of 100 (sorted by time, metadata count) and a one-day page of 1,000 (time range, range count);
* the lease takeover race: two :class:`~petrosa_common.leases.LeaderElector` on separate
  clients try to take the same expired lease at once, ``--race-rounds`` times. It counts the
  rounds where both were told they won, and the rounds where more than one of them still passed
  :meth:`~petrosa_common.leases.LeaderElector.verify` (fencing broken: must be 0).

``--house-benches`` also runs ``bench.api`` and ``bench.audit`` against each handler's server
(through a temporary ``PETROSA_ROOT`` whose ``.run/infra.env`` names it) and quotes their
figures; their own result files are not touched.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import psycopg
from petrosa_common.documents import WriteOp, event_writes
from petrosa_common.events import Kline
from petrosa_common.leases import LeaderElector, LostLeadership
from petrosa_common.logging import configure_logging
from petrosa_common.mongo import server_time
from petrosa_common.naming import LEADER_ELECTION_COLLECTION
from petrosa_common.series_writer import SeriesWriter
from petrosa_devtools import infra
from petrosa_devtools.processes import free_port
from petrosa_gateway.queries.market import CANDLES, SeriesQuery, read_series
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

Document = dict[str, Any]
SYMBOL = "BTCUSDT"
COLLECTION = f"candles_{SYMBOL}_1m"
T0 = datetime(2024, 1, 1, tzinfo=UTC)
ROLE = "bench_race"
HANDLERS = ("sqlite", "postgresql")
T = TypeVar("T")


def kline_ops(start: int, count: int, *, event_delay_ms: int = 60_000) -> list[WriteOp]:
    """The ingestor's writes for closed 1m candles ``start .. start+count-1``; a larger
    ``event_delay_ms`` makes a newer version of the same candles."""
    ops: list[WriteOp] = []
    for i in range(start, start + count):
        opened = T0 + timedelta(minutes=i)
        open_ms = int(opened.timestamp() * 1000)
        kline = Kline(
            SYMBOL,
            "1m",
            opened,
            opened + timedelta(seconds=59),
            100.0 + i,
            101.0 + i,
            99.0 + i,
            100.5 + i,
            12.5,
            1250.0,
            42,
            6.0,
            600.0,
            True,
            open_ms + event_delay_ms,
            open_ms,
        )
        ops.extend(event_writes(kline))
    return ops


async def timed(work: Awaitable[T]) -> tuple[T, float]:
    """``work``'s result and the seconds it took (a coroutine starts when awaited)."""
    started = time.perf_counter()
    value = await work
    return value, time.perf_counter() - started


def figure(samples: list[float], scale: float = 1.0) -> dict[str, Any]:
    """``{"median", "all"}`` of ``samples`` times ``scale``."""
    scaled = [sample * scale for sample in samples]
    return {"median": statistics.median(scaled), "all": scaled}


async def writes(
    db: AsyncDatabase[Document], *, candles: int, batch_size: int, updates: int, repeats: int
) -> dict[str, Any]:
    """Seed ``candles`` through the series writer, timing each batch, then redeliveries and
    newer versions."""
    writer = SeriesWriter(db)
    now = datetime.now(UTC)
    insert_rates: list[float] = []
    started = time.perf_counter()
    for first in range(0, candles, batch_size):
        batch = kline_ops(first, min(batch_size, candles - first))
        _, seconds = await timed(writer.write(COLLECTION, batch, now))
        insert_rates.append(len(batch) / seconds)
    seed_seconds = time.perf_counter() - started
    redelivered: list[float] = []
    updated: list[float] = []
    rng = random.Random(7)
    for run in range(repeats):
        first = rng.randrange(0, max(1, candles - batch_size))
        again = kline_ops(first, min(batch_size, candles))
        outcome, seconds = await timed(writer.write(COLLECTION, again, now))
        assert outcome.inserted == outcome.updated == 0, outcome
        redelivered.append(len(again) / seconds)
        newer = kline_ops(rng.randrange(0, candles - updates), updates, event_delay_ms=61_000 + run)
        outcome, seconds = await timed(writer.write(COLLECTION, newer, now))
        assert outcome.updated == len(newer), outcome
        updated.append(len(newer) / seconds)
    return {
        "seed_seconds": seed_seconds,
        "insert_docs_per_second": figure(insert_rates),
        "redelivery_docs_per_second": figure(redelivered),
        "update_docs_per_second": figure(updated),
    }


async def reads(db: AsyncDatabase[Document], *, candles: int, repeats: int) -> dict[str, Any]:
    """Lookups, an equality filter and the gateway's two page shapes, ``repeats`` times each."""
    collection = db[COLLECTION]
    rng = random.Random(11)
    lookups: list[float] = []
    equalities: list[float] = []
    latest: list[float] = []
    day: list[float] = []
    for _ in range(repeats):
        i = rng.randrange(candles)
        key = f"{SYMBOL}_{int((T0 + timedelta(minutes=i)).timestamp() * 1000)}"

        found, seconds = await timed(collection.find_one({"_id": key}))
        assert found is not None
        lookups.append(seconds)
        matched, seconds = await timed(collection.find({"close": 100.5 + i}).to_list())
        assert len(matched) == 1
        equalities.append(seconds)
        latest_page = SeriesQuery(pair=SYMBOL, period="1m", limit=100)
        page, seconds = await timed(read_series(db, CANDLES, latest_page))
        assert len(page["data"]) == 100
        latest.append(seconds)
        start = T0 + timedelta(minutes=rng.randrange(max(1, candles - 1440)))
        day_page = SeriesQuery(
            pair=SYMBOL, period="1m", start=start, end=start + timedelta(days=1), limit=1000
        )
        page, seconds = await timed(read_series(db, CANDLES, day_page))
        assert len(page["data"]) == min(1000, candles)
        day.append(seconds)
    return {
        "id_lookup_ms": figure(lookups, 1000),
        "equality_filter_ms": figure(equalities, 1000),
        "gateway_latest_100_ms": figure(latest, 1000),
        "gateway_day_range_1000_ms": figure(day, 1000),
    }


async def race(url: str, database: str, *, rounds: int) -> dict[str, Any]:
    """Two electors on separate clients take one expired lease at once, ``rounds`` times."""
    clients: list[AsyncMongoClient[Document]] = [
        AsyncMongoClient(url, tz_aware=True) for _ in range(2)
    ]
    try:
        dbs = [client[database] for client in clients]
        leases = dbs[0][LEADER_ELECTION_COLLECTION]
        double_wins = broken_fencing = no_winner = 0
        for round_ in range(rounds):
            now = await server_time(clients[0])
            expired = now - timedelta(seconds=60)
            await leases.replace_one(
                {"_id": ROLE},
                {
                    "_id": ROLE,
                    "status": "leader",
                    "pod_id": "gone",
                    "term": round_ + 1,
                    "elected_at": expired,
                    "last_heartbeat": expired,
                    "expires_at": expired,
                    "updated_at": expired,
                },
                upsert=True,
            )
            electors = [
                LeaderElector(db, role=ROLE, pod_id=f"pod-{n}", lease_seconds=30)
                for n, db in enumerate(dbs)
            ]
            won = await asyncio.gather(*(elector.try_acquire() for elector in electors))
            double_wins += all(won)
            no_winner += not any(won)
            verified = 0
            for elector in electors:
                if elector.is_leader:
                    try:
                        await elector.verify()
                        verified += 1
                    except LostLeadership:
                        pass
            broken_fencing += verified > 1
        return {
            "rounds": rounds,
            "two_winners": double_wins,
            "no_winner": no_winner,
            "more_than_one_passed_verify": broken_fencing,
        }
    finally:
        for client in clients:
            await client.close()


@dataclass(frozen=True, slots=True)
class Server:
    """A FerretDB of this run."""

    handler: str
    url: str


@asynccontextmanager
async def ferretdb(handler: str, postgres_url: str) -> AsyncIterator[Server]:
    """A FerretDB with ``handler`` on a free port and empty storage, removed afterwards."""
    name = f"bench-ferretdb-{handler}"
    url = f"mongodb://127.0.0.1:{free_port()}"
    scratch = f"bench_ferretdb_{uuid.uuid4().hex[:8]}"
    parts = urlsplit(postgres_url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with tempfile.TemporaryDirectory(prefix="bench-ferretdb-") as folder:
        try:
            infra.start_ferretdb(
                url,
                data_dir=Path(folder),
                name=name,
                handler=handler,
                postgresql_url=urlunsplit(parts._replace(path=f"/{scratch}")),
            )
            yield Server(handler, url)
        finally:
            infra.stop_ferretdb(name)
            if handler == "postgresql":
                with psycopg.connect(admin, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


async def measure(server: Server, args: argparse.Namespace) -> dict[str, Any]:
    """Every figure of one handler."""
    database = f"bench_handlers_{uuid.uuid4().hex[:8]}"
    client: AsyncMongoClient[Document] = AsyncMongoClient(server.url, tz_aware=True)
    try:
        db = client[database]
        result = await writes(
            db,
            candles=args.candles,
            batch_size=args.batch_size,
            updates=args.updates,
            repeats=args.repeats,
        )
        result.update(await reads(db, candles=args.candles, repeats=args.repeats))
        result["lease_race"] = await race(server.url, database, rounds=args.race_rounds)
        await client.drop_database(database)
    finally:
        await client.close()
    return result


def house_benches(server: Server, urls: infra.InfraUrls, api_requests: int) -> dict[str, Any]:
    """``bench.api`` and ``bench.audit`` against ``server`` (their key figures)."""
    with tempfile.TemporaryDirectory(prefix="bench-handlers-root-") as root:
        infra_env = Path(root) / ".run" / "infra.env"
        infra_env.parent.mkdir()
        env_lines = {**urls.as_env(), "MONGODB_URL": server.url}
        infra_env.write_text("".join(f"{key}={value}\n" for key, value in env_lines.items()))
        env = {**os.environ, "PETROSA_ROOT": root}
        api_json, audit_json = Path(root) / "api.json", Path(root) / "audit.json"
        for command in (
            ["bench.api", "--requests", str(api_requests), "--output", str(api_json)],
            ["bench.audit", "--output", str(audit_json)],
        ):
            subprocess.run([sys.executable, "-m", *command], env=env, check=True)
        api = json.loads(api_json.read_text())
        audit = json.loads(audit_json.read_text())
    return {
        "api": {
            "endpoint": api["endpoint"],
            "requests": api_requests,
            "gateway_p50_ms": api["gateway"]["p50_ms"],
            "raw_driver_p50_ms": api["raw_driver"]["p50_ms"],
            "gateway_requests_per_second": api["gateway"]["requests_per_second"],
        },
        "audit": {
            "candles": audit["candles"],
            "cycle_seconds": audit["cycle_seconds"],
            "cycle_seconds_median": statistics.median(audit["cycle_seconds"]),
            "record_count_refresh_seconds": audit["record_count_refresh_seconds"],
        },
    }


ROWS: tuple[tuple[str, str, str], ...] = (
    ("insert_docs_per_second", "insert, docs/s (batch median)", "{:,.0f}"),
    ("redelivery_docs_per_second", "redelivered batch, docs/s", "{:,.0f}"),
    ("update_docs_per_second", "newer versions, docs/s", "{:,.1f}"),
    ("id_lookup_ms", "_id lookup, ms", "{:,.1f}"),
    ("equality_filter_ms", "equality filter, ms", "{:,.1f}"),
    ("gateway_latest_100_ms", "gateway latest 100, ms", "{:,.0f}"),
    ("gateway_day_range_1000_ms", "gateway 1-day range, ms", "{:,.0f}"),
)


def print_table(handlers: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    names = list(handlers)
    print(f"candles  {args.candles:,} (1m {SYMBOL}, one collection); medians of {args.repeats}")
    print(f"{'':<34}" + "".join(f"{name:>14}" for name in names))
    for key, label, fmt in ROWS:
        cells = "".join(f"{fmt.format(handlers[n][key]['median']):>14}" for n in names)
        print(f"{label:<34}{cells}")
    print(f"{'seed ' + format(args.candles, ',') + ' candles, s':<34}", end="")
    print("".join(f"{handlers[n]['seed_seconds']:>14.1f}" for n in names))
    cells = "".join(
        f"{handlers[n]['lease_race']['two_winners']:>11}/{handlers[n]['lease_race']['rounds']:<2}"
        for n in names
    )
    print(f"{'lease race: two winners':<34}{cells}")
    fenced = [handlers[n]["lease_race"]["more_than_one_passed_verify"] for n in names]
    cells = "".join(f"{count:>14}" for count in fenced)
    print(f"{'lease race: >1 passed verify()':<34}{cells}")
    for name in names:
        house = handlers[name].get("house")
        if house:
            print(
                f"{name}: bench.api gateway p50 {house['api']['gateway_p50_ms']:,.0f} ms"
                f" (raw {house['api']['raw_driver_p50_ms']:,.0f} ms);"
                f" bench.audit cycle {house['audit']['cycle_seconds_median']:.2f} s median,"
                f" count refresh {house['audit']['record_count_refresh_seconds']:.2f} s"
            )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="Starts and removes its own FerretDB servers; see the module docstring.",
    )
    parser.add_argument("--candles", type=int, default=20_000, help="candles stored (20000)")
    parser.add_argument("--repeats", type=int, default=5, help="runs per figure (default 5)")
    parser.add_argument("--batch-size", type=int, default=1000, help="ingest batch (1000)")
    parser.add_argument("--updates", type=int, default=20, help="newer versions per run (20)")
    parser.add_argument("--race-rounds", type=int, default=50, help="lease races (default 50)")
    parser.add_argument(
        "--handlers", nargs="+", choices=HANDLERS, default=list(HANDLERS), help="which to run"
    )
    parser.add_argument(
        "--house-benches", action="store_true", help="also run bench.api and bench.audit"
    )
    parser.add_argument("--api-requests", type=int, default=40, help="bench.api --requests (40)")
    parser.add_argument("--output", type=Path, default=Path("bench/results/ferretdb_handlers.json"))
    args = parser.parse_args()
    if args.candles < max(args.batch_size, args.updates, 2):
        parser.error("--candles must be at least --batch-size and --updates")
    configure_logging("bench-ferretdb-handlers", "ERROR")
    urls = infra.read_env() or infra.configured_urls()
    handlers: dict[str, dict[str, Any]] = {}
    for handler in args.handlers:
        print(f"measuring FerretDB with the {handler} handler ...", file=sys.stderr)
        async with ferretdb(handler, urls.postgres_url) as server:
            handlers[handler] = await measure(server, args)
            if args.house_benches:
                handlers[handler]["house"] = house_benches(server, urls, args.api_requests)
    result = {
        "benchmark": "ferretdb_handlers",
        "when": datetime.now(UTC).isoformat(),
        "machine": {
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "ferretdb": "1.24 (tools/ferretdb)",
        "candles": args.candles,
        "repeats": args.repeats,
        "batch_size": args.batch_size,
        "updates_per_run": args.updates,
        "handlers": handlers,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print_table(handlers, args)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    asyncio.run(main())

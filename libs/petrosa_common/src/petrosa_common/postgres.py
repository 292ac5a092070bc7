"""PostgreSQL access: the async pool and idempotent, ordered SQL migrations.

Migrations are the ``NNNN_name.sql`` files of ``petrosa_common/migrations``. Any service
applies them at start-up under an advisory lock, so services can start in any order and
concurrently; each file runs once, in its own transaction, and is recorded in
``schema_migrations``.
"""

from __future__ import annotations

from importlib import resources

from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

PgPool = AsyncConnectionPool[AsyncConnection[DictRow]]

_MIGRATION_LOCK_ID = 0x5045_5452_4F53_41  # "PETROSA": one advisory lock for all services


async def create_pg_pool(
    url: str, *, min_size: int = 1, max_size: int = 10, wait: bool = True
) -> PgPool:
    """Open a pool of connections returning rows as dicts.

    With ``wait`` it returns once a connection works (raising if none does in 15 s); without,
    it returns at once and the pool keeps connecting in the background.
    """
    pool: PgPool = AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        kwargs={"row_factory": dict_row, "autocommit": True},
        open=False,
        name="petrosa",
    )
    await pool.open(wait=wait, timeout=15)
    return pool


def migration_files() -> list[tuple[str, str]]:
    """``(name, sql)`` of every migration, in order."""
    folder = resources.files("petrosa_common.migrations")
    files = sorted(
        (entry.name, entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".sql")
    )
    return files


async def apply_migrations(pool: PgPool) -> list[str]:
    """Apply pending migrations (idempotent, concurrency-safe); returns the names applied."""
    applied: list[str] = []
    async with pool.connection() as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK_ID,))
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            cursor = await conn.execute("SELECT name FROM schema_migrations")
            done = {row["name"] for row in await cursor.fetchall()}
            for name, sql in migration_files():
                if name in done:
                    continue
                async with conn.transaction():
                    await conn.execute(sql.encode())
                    await conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (name,))
                applied.append(name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK_ID,))
    return applied

"""Raw SQL reads: parsed and refused unless a single read, run READ ONLY with a timeout."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from petrosa_common.postgres import PgPool, apply_migrations, create_pg_pool
from petrosa_gateway.errors import BadRequest
from petrosa_gateway.queries.raw_sql import (
    RawDialect,
    limit_transaction,
    run_raw_sql,
    validate_sql,
)
from petrosa_gateway.store.encoding import dumps

pytestmark = pytest.mark.integration

SETUP = [
    """
    CREATE TABLE orders (
        order_id   TEXT PRIMARY KEY,
        symbol     TEXT NOT NULL,
        side       TEXT NOT NULL,
        status     TEXT,
        quantity   NUMERIC NOT NULL,
        price      NUMERIC NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        updated_at TIMESTAMPTZ
    )
    """,
    """
    INSERT INTO orders (order_id, symbol, side, status, quantity, price, created_at, updated_at)
    VALUES ('o1', 'BTCUSDT', 'BUY', 'NEW', 1, 50000.5, '2025-01-01T00:00:00Z', NULL),
           ('o2', 'BTCUSDT', 'SELL', 'FILLED', 2, 50100, '2025-01-02T00:00:00Z',
            '2025-01-02T01:00:00Z'),
           ('o3', 'ETHUSDT', 'BUY', 'FILLED', 10, 3000, '2025-01-03T00:00:00Z', NULL)
    """,
    "INSERT INTO audit_logs (timestamp, check_type, message)"
    " VALUES (now() - interval '30 minutes', 'gap', 'recent'),"
    "        (now() - interval '2 hours', 'gap', 'old')",
    "CREATE SEQUENCE order_seq",
    # Functions an attacker cannot create, but which show the deeper layers hold when a
    # harmful call hides behind an innocent name:
    "CREATE FUNCTION purge() RETURNS int LANGUAGE plpgsql AS"
    " $$ BEGIN DELETE FROM orders; RETURN 1; END $$",
    "CREATE FUNCTION bump() RETURNS bigint LANGUAGE sql AS $$ SELECT nextval('order_seq') $$",
    "CREATE FUNCTION nap() RETURNS int LANGUAGE sql AS $$ SELECT 1 FROM pg_sleep(30) $$",
]


@pytest.fixture
async def pool(postgres_url: str) -> AsyncIterator[PgPool]:
    pool = await create_pg_pool(postgres_url, min_size=1, max_size=4)
    await apply_migrations(pool)
    async with pool.connection() as conn:
        for statement in SETUP:
            await conn.execute(statement.encode())
    yield pool
    await pool.close()


async def snapshot(pool: PgPool) -> dict[str, Any]:
    """Everything an attack could change: rows, relations, sequences, large objects, roles."""
    async with pool.connection() as conn:

        async def rows(query: str) -> list[dict[str, Any]]:
            return list(await (await conn.execute(query.encode())).fetchall())

        return {
            "orders": await rows("SELECT * FROM orders ORDER BY order_id"),
            "audit_logs": await rows("SELECT * FROM audit_logs ORDER BY id"),
            "relations": await rows(
                "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n"
                " ON n.oid = c.relnamespace WHERE n.nspname NOT IN"
                " ('pg_catalog', 'information_schema', 'pg_toast') ORDER BY 1, 2"
            ),
            "sequence": await rows("SELECT last_value, is_called FROM order_seq"),
            "large_objects": await rows("SELECT count(*) AS n FROM pg_largeobject_metadata"),
            "roles": await rows("SELECT rolname FROM pg_roles ORDER BY 1"),
        }


# --------------------------------------------------------------------------------------------
# Running reads


async def test_the_seed_mysql_example_runs_on_postgresql(pool: PgPool) -> None:
    result = await run_raw_sql(
        pool,
        "SELECT COUNT(*) as total FROM audit_logs WHERE timestamp > NOW() - INTERVAL 1 HOUR",
        dialect="mysql",
    )
    assert result.data == [{"total": 1}]
    assert result.columns == ["total"]
    assert (result.row_count, result.truncated) == (1, False)
    assert "INTERVAL '1 HOUR'" in result.query
    assert result.execution_time_ms >= 0


async def test_rows_are_encoded_like_every_reply_dates_in_utc_with_z(pool: PgPool) -> None:
    result = await run_raw_sql(
        pool,
        "SELECT order_id, price, created_at, updated_at FROM orders ORDER BY order_id",
    )
    assert result.columns == ["order_id", "price", "created_at", "updated_at"]
    data = orjson.loads(dumps(result))["data"]
    assert data[0] == {
        "order_id": "o1",
        "price": 50000.5,
        "created_at": "2025-01-01T00:00:00Z",
        "updated_at": None,
    }
    assert data[1]["updated_at"] == "2025-01-02T01:00:00Z"


async def test_every_postgresql_type_is_encoded_not_a_500(pool: PgPool) -> None:
    result = await run_raw_sql(
        pool,
        "SELECT '10:00:00+02'::timetz AS t, interval '90 seconds' AS i, '10.0.0.1'::inet AS a,"
        " 'NaN'::numeric AS nan, '\\x00ff'::bytea AS b, '[1,5)'::int4range AS r,"
        " ARRAY['2025-01-01T10:00:00+02:00'::timestamptz] AS ts",
    )
    assert orjson.loads(dumps(result))["data"] == [
        {
            "t": "10:00:00+02:00",
            "i": 90.0,
            "a": "10.0.0.1",
            "nan": None,
            "b": "AP8=",
            "r": "[1, 5)",
            "ts": ["2025-01-01T08:00:00Z"],
        }
    ]


async def test_joins_ctes_unions_and_values_are_reads(pool: PgPool) -> None:
    result = await run_raw_sql(
        pool,
        "WITH f AS (SELECT * FROM orders WHERE status = 'FILLED')"
        " SELECT f.symbol, count(*) AS n, sum(f.quantity) AS qty FROM f"
        " JOIN orders o ON o.order_id = f.order_id GROUP BY f.symbol ORDER BY f.symbol",
    )
    assert result.data == [
        {"symbol": "BTCUSDT", "n": 1, "qty": 2.0},
        {"symbol": "ETHUSDT", "n": 1, "qty": 10.0},
    ]
    union = await run_raw_sql(pool, "SELECT 1 AS x UNION ALL SELECT 2 ORDER BY 1")
    assert union.data == [{"x": 1}, {"x": 2}]
    values = await run_raw_sql(pool, "VALUES (1, 'a'), (2, 'b')")
    assert values.row_count == 2


async def test_more_rows_than_max_rows_are_truncated(pool: PgPool) -> None:
    query = "SELECT g FROM generate_series(1, 50) AS g"
    capped = await run_raw_sql(pool, query, max_rows=10)
    assert (capped.row_count, capped.truncated) == (10, True)
    assert [row["g"] for row in capped.data] == list(range(1, 11))
    exact = await run_raw_sql(pool, query, max_rows=50)
    assert (exact.row_count, exact.truncated) == (50, False)


async def test_a_huge_result_is_never_fetched_whole(pool: PgPool) -> None:
    started = time.monotonic()
    result = await run_raw_sql(pool, "SELECT generate_series(1, 50000000) AS g", max_rows=5)
    assert (result.row_count, result.truncated) == (5, True)
    assert time.monotonic() - started < 5


async def test_a_raw_query_runs_read_only_with_its_timeout_and_no_jit(pool: PgPool) -> None:
    # JIT would load LLVM into a fresh backend (seconds on a cold machine) to compile a plan
    # whose rows the cursor mostly never fetches; that once ate the whole 5 s timeout in CI.
    async with pool.connection() as conn:
        async with conn.transaction():
            await limit_transaction(conn, 1234)
            settings = {
                name: (await (await conn.execute(f"SHOW {name}")).fetchone() or {})[name]
                for name in ("transaction_read_only", "statement_timeout", "jit")
            }
        after = await (await conn.execute("SHOW jit")).fetchone()
    assert settings == {"transaction_read_only": "on", "statement_timeout": "1234ms", "jit": "off"}
    assert after == {"jit": "on"}  # local to the transaction: the pooled connection is unchanged


async def test_duplicate_column_names_keep_every_value(pool: PgPool) -> None:
    result = await run_raw_sql(pool, "SELECT 1 AS id, 2 AS id, 3 AS id_2")
    assert result.columns == ["id", "id_3", "id_2"]
    assert result.data == [{"id": 1, "id_3": 2, "id_2": 3}]


@pytest.mark.parametrize(
    ("query", "dialect", "params"),
    [
        ("SELECT order_id FROM orders WHERE symbol = %s AND quantity > %s", "postgres",
         ["BTCUSDT", 1]),
        ("SELECT order_id FROM orders WHERE symbol = $1 AND quantity > $2", "postgres",
         ["BTCUSDT", 1]),
        ("SELECT order_id FROM orders WHERE quantity > $2 AND symbol = $1", "postgres",
         [1, "BTCUSDT"][::-1]),
        ("SELECT order_id FROM orders WHERE symbol = ? AND quantity > ?", "mysql",
         ["BTCUSDT", 1]),
        ("SELECT order_id FROM orders WHERE symbol = %s AND status LIKE 'F%%' OR false"
         " AND quantity > %s", "postgres", ["BTCUSDT", 1]),
    ],
)  # fmt: skip
async def test_params_are_bound(
    pool: PgPool, query: str, dialect: RawDialect, params: list[Any]
) -> None:
    result = await run_raw_sql(pool, query, dialect=dialect, params=params)
    assert result.data == [{"order_id": "o2"}]


async def test_a_param_is_a_value_never_sql(pool: PgPool) -> None:
    result = await run_raw_sql(
        pool, "SELECT order_id FROM orders WHERE order_id = $1", params=["o1' OR '1'='1"]
    )
    assert result.data == []
    like = await run_raw_sql(
        pool, "SELECT count(*) AS n FROM orders WHERE symbol LIKE 'BTC%' AND side = %s",
        params=["BUY"],
    )  # fmt: skip
    assert like.data == [{"n": 1}]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (None, "no params"),
        ([], "2 params|each must be used"),
        (["BTCUSDT"], "each must be used"),
        (["BTCUSDT", 1, 2], "each must be used"),
        (["BTCUSDT", {"a": 1}], "params\\[1\\]"),
    ],
)
async def test_params_must_match_the_placeholders(
    pool: PgPool, params: list[Any] | None, message: str
) -> None:
    with pytest.raises(BadRequest, match=message):
        await run_raw_sql(
            pool, "SELECT 1 FROM orders WHERE symbol = $1 AND quantity > $2", params=params
        )


async def test_a_slow_query_is_stopped_by_the_statement_timeout(pool: PgPool) -> None:
    started = time.monotonic()
    with pytest.raises(BadRequest, match="exceeded the statement timeout of 200 ms"):
        await run_raw_sql(
            pool,
            "SELECT count(*) FROM generate_series(1, 1000000) a, generate_series(1, 1000) b",
            statement_timeout_ms=200,
        )
    assert time.monotonic() - started < 5
    # the connection went back to the pool clean: the next query works, without the timeout
    result = await run_raw_sql(pool, "SELECT count(*) AS n FROM orders")
    assert result.data == [{"n": 3}]


async def test_a_sleep_hidden_behind_an_innocent_name_is_killed_by_the_timeout(
    pool: PgPool,
) -> None:
    started = time.monotonic()
    with pytest.raises(BadRequest, match="statement timeout"):
        await run_raw_sql(pool, "SELECT nap()", statement_timeout_ms=300)
    assert time.monotonic() - started < 5


async def test_writes_hidden_in_functions_fail_in_the_read_only_transaction(
    pool: PgPool,
) -> None:
    before = await snapshot(pool)
    with pytest.raises(BadRequest, match="read-only transaction"):
        await run_raw_sql(pool, "SELECT purge()")
    with pytest.raises(BadRequest, match="read-only transaction"):
        await run_raw_sql(pool, "SELECT bump()")
    assert await snapshot(pool) == before


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("SELECT colour FROM orders", 'column "colour" does not exist'),
        ("SELECT * FROM nope", 'relation "nope" does not exist'),
        ("SELECT 1/0", "division by zero"),
        ("SELECT 'abc'::int", "invalid input syntax"),
    ],
)
async def test_statements_postgresql_refuses_are_bad_requests(
    pool: PgPool, query: str, message: str
) -> None:
    with pytest.raises(BadRequest, match=message):
        await run_raw_sql(pool, query)


async def test_bad_limits_are_refused(pool: PgPool) -> None:
    with pytest.raises(BadRequest, match="max_rows"):
        await run_raw_sql(pool, "SELECT 1", max_rows=0)
    with pytest.raises(BadRequest, match="statement_timeout_ms"):
        await run_raw_sql(pool, "SELECT 1", statement_timeout_ms=0)


# --------------------------------------------------------------------------------------------
# Validation without a database


@pytest.mark.parametrize(
    ("query", "dialect", "expected"),
    [
        ("SELECT created_at, updated_at FROM orders", "postgres",
         "SELECT created_at, updated_at FROM orders"),
        ("select `symbol` from `orders` limit 5, 10", "mysql",
         'SELECT "symbol" FROM "orders" LIMIT 10 OFFSET 5'),
        ("SELECT 1 -- trailing comment", "postgres", "SELECT 1"),
        ("SELECT 1 /* ; DROP TABLE orders */", "postgres", "SELECT 1"),
        ("SELECT count(*) FROM orders;", "postgres", "SELECT COUNT(*) FROM orders"),
        ("TABLE orders", "postgres", "SELECT * FROM orders"),
        ("SELECT pg_typeof(price) FROM public.orders", "postgres",
         "SELECT pg_typeof(price) FROM public.orders"),
    ],
)  # fmt: skip
def test_validate_sql_returns_the_postgresql_to_run(
    query: str, dialect: RawDialect, expected: str
) -> None:
    assert validate_sql(query, dialect) == expected


def test_validate_sql_refuses_empty_and_oversized_queries() -> None:
    for query in ("", "   ", ";", "-- only a comment"):
        with pytest.raises(BadRequest):
            validate_sql(query)
    with pytest.raises(BadRequest, match="longer than"):
        validate_sql("SELECT " + "1 + " * 40_000 + "1")
    with pytest.raises(BadRequest, match="could not parse"):
        validate_sql("SELECT FROM WHERE (")


# --------------------------------------------------------------------------------------------
# Injection corpus: each attempt is refused with a reason, and nothing changes

REFUSED: list[tuple[str, str, RawDialect, str]] = [
    ("stacked-drop", "SELECT 1; DROP TABLE orders", "postgres", "exactly one statement"),
    ("stacked-delete", "SELECT * FROM orders; DELETE FROM orders", "postgres",
     "exactly one statement"),
    ("stacked-after-comment", "SELECT 1 /* x */; DELETE FROM orders --", "postgres",
     "exactly one statement"),
    ("stacked-mysql", "SELECT 1; TRUNCATE orders", "mysql", "exactly one statement"),
    ("block-comment-stack", "SELECT 1 /* */ ; /* */ UPDATE orders SET price = 0", "postgres",
     "exactly one statement"),
    ("delete", "DELETE FROM orders", "postgres", "only SELECT"),
    ("update", "UPDATE orders SET price = 0", "postgres", "only SELECT"),
    ("insert", "INSERT INTO orders (order_id) VALUES ('x')", "postgres", "only SELECT"),
    ("drop", "DROP TABLE orders", "postgres", "only SELECT"),
    ("truncate", "TRUNCATE orders", "postgres", "only SELECT"),
    ("cte-delete", "WITH x AS (DELETE FROM orders RETURNING *) SELECT * FROM x", "postgres",
     "data-modifying"),
    ("cte-update", "WITH x AS (UPDATE orders SET price = 0 RETURNING 1) SELECT * FROM x",
     "postgres", "data-modifying"),
    ("cte-insert", "WITH x AS (INSERT INTO orders (order_id, symbol, side, quantity, price)"
     " VALUES ('z', 'a', 'b', 1, 1) RETURNING 1) SELECT 1", "postgres", "data-modifying"),
    ("select-into", "SELECT * INTO stolen FROM orders", "postgres", "INTO"),
    ("create-table-as", "CREATE TABLE stolen AS SELECT * FROM orders", "postgres",
     "only SELECT"),
    ("copy-to-file", "COPY orders TO '/tmp/orders.csv'", "postgres", "only SELECT"),
    ("copy-program", "COPY (SELECT 1) TO PROGRAM 'touch /tmp/pwned'", "postgres",
     "only SELECT"),
    ("copy-from", "COPY orders FROM '/etc/passwd'", "postgres", "only SELECT"),
    ("do-block", "DO $$ BEGIN DELETE FROM orders; END $$", "postgres", "only SELECT"),
    ("explain-analyze", "EXPLAIN ANALYZE DELETE FROM orders", "postgres", "only SELECT"),
    ("set-timeout", "SET statement_timeout = 0", "postgres", "only SELECT"),
    ("set-read-write", "SET TRANSACTION READ WRITE", "postgres", "only SELECT"),
    ("commit", "COMMIT", "postgres", "only SELECT"),
    ("grant", "GRANT ALL ON orders TO PUBLIC", "postgres", "only SELECT"),
    ("set-config", "SELECT set_config('default_transaction_read_only', 'off', false)",
     "postgres", "set_config"),
    ("set-config-timeout", "SELECT set_config('statement_timeout', '0', true), * FROM orders",
     "postgres", "set_config"),
    ("current-setting", "SELECT current_setting('data_directory')", "postgres",
     "current_setting"),
    ("pg-sleep", "SELECT pg_sleep(30)", "postgres", "pg_sleep"),
    ("pg-sleep-quoted", 'SELECT "pg_sleep"(30)', "postgres", "pg_sleep"),
    ("pg-sleep-qualified", "SELECT pg_catalog.pg_sleep(30)", "postgres", "schema-qualified"),
    ("pg-sleep-lateral", "SELECT * FROM orders, LATERAL (SELECT pg_sleep_for('30s')) s",
     "postgres", "pg_sleep_for"),
    ("pg-sleep-where", "SELECT * FROM orders WHERE EXISTS (SELECT pg_sleep(30))", "postgres",
     "pg_sleep"),
    ("sleep-mysql", "SELECT SLEEP(30)", "mysql", "sleep|pg_sleep|function"),
    ("read-file", "SELECT pg_read_file('/etc/passwd')", "postgres", "pg_read_file"),
    ("read-binary-file", "SELECT convert_from(pg_read_binary_file('/etc/passwd'), 'utf8')",
     "postgres", "pg_read_binary_file"),
    ("ls-dir", "SELECT * FROM pg_ls_dir('.')", "postgres", "pg_ls_dir"),
    ("stat-file", "SELECT * FROM pg_stat_file('postgresql.conf')", "postgres", "pg_stat_file"),
    ("lo-import", "SELECT lo_import('/etc/passwd')", "postgres", "lo_import"),
    ("lo-export", "SELECT lo_export(1, '/tmp/x')", "postgres", "lo_export"),
    ("loread", "SELECT loread(0, 100)", "postgres", "loread"),
    ("dblink", "SELECT * FROM dblink('dbname=postgres', 'DELETE FROM orders') AS t(x text)",
     "postgres", "dblink"),
    ("dblink-exec", "SELECT dblink_exec('dbname=postgres', 'DROP TABLE orders')", "postgres",
     "dblink"),
    ("query-to-xml", "SELECT query_to_xml('SELECT * FROM pg_authid', true, true, '')",
     "postgres", "query_to_xml"),
    ("table-to-xml", "SELECT table_to_xml('pg_authid', true, true, '')", "postgres",
     "table_to_xml"),
    ("ts-stat", "SELECT * FROM ts_stat('SELECT rolpassword::tsvector FROM pg_authid')",
     "postgres", "ts_stat"),
    ("terminate", "SELECT pg_terminate_backend(pid) FROM orders", "postgres",
     "pg_terminate_backend"),
    ("cancel", "SELECT pg_cancel_backend(1)", "postgres", "pg_cancel_backend"),
    ("reload-conf", "SELECT pg_reload_conf()", "postgres", "pg_reload_conf"),
    ("advisory-lock", "SELECT pg_advisory_lock(1)", "postgres", "pg_advisory_lock"),
    ("txid", "SELECT txid_current()", "postgres", "txid_current"),
    ("nextval", "SELECT nextval('order_seq')", "postgres", "nextval"),
    ("setval", "SELECT setval('order_seq', 1000)", "postgres", "setval"),
    ("notify", "SELECT pg_notify('c', 'x')", "postgres", "pg_notify"),
    ("pg-authid", "SELECT rolname, rolpassword FROM pg_catalog.pg_authid", "postgres",
     "system catalog"),
    ("pg-authid-bare", "SELECT * FROM pg_authid", "postgres", "system catalog"),
    ("pg-shadow", "SELECT usename, passwd FROM pg_shadow", "postgres", "system catalog"),
    ("pg-user", "SELECT * FROM pg_user", "postgres", "system catalog"),
    ("pg-user-subquery", "SELECT (SELECT count(*) FROM pg_user) AS n", "postgres",
     "system catalog"),
    ("pg-user-join", "SELECT o.* FROM orders o JOIN pg_roles r ON true", "postgres",
     "system catalog"),
    ("table-command", "TABLE pg_authid", "postgres", "system catalog"),
    ("information-schema", "SELECT * FROM information_schema.tables", "postgres",
     "system catalog"),
    ("information-schema-quoted", 'SELECT * FROM "information_schema"."columns"', "postgres",
     "system catalog"),
    ("other-schema", "SELECT * FROM secret.orders", "postgres", "schema"),
    ("other-database", "SELECT * FROM otherdb.public.orders", "postgres", "cross-database"),
    ("for-update", "SELECT * FROM orders FOR UPDATE", "postgres", "locking clause"),
    ("placeholder-no-params", "SELECT * FROM orders WHERE order_id = $1", "postgres",
     "no params"),
]  # fmt: skip

INERT: list[tuple[str, str, RawDialect]] = [
    ("quoted-or", "SELECT * FROM orders WHERE order_id = 'x'' OR ''1''=''1'", "postgres"),
    ("comment-in-string", "SELECT * FROM orders WHERE order_id = '--'", "postgres"),
    ("backslash-string", "SELECT 'a\\' OR 1 = 1 --' AS s", "postgres"),
    ("dollar-quoted", "SELECT $$'; DROP TABLE orders; --$$ AS s", "postgres"),
    ("quoted-identifier", 'SELECT 1 AS "x""; DROP TABLE orders; --"', "postgres"),
    ("mysql-comment", "SELECT 1 # ; DROP TABLE orders", "mysql"),
]


@pytest.mark.parametrize(
    ("name", "query", "dialect", "reason"), REFUSED, ids=[case[0] for case in REFUSED]
)
async def test_raw_sql_attack_is_refused_and_changes_nothing(
    pool: PgPool, name: str, query: str, dialect: RawDialect, reason: str
) -> None:
    before = await snapshot(pool)
    started = time.monotonic()
    with pytest.raises(BadRequest, match=reason) as caught:
        await run_raw_sql(pool, query, dialect=dialect, statement_timeout_ms=1_000)
    assert caught.value.status == 400
    assert time.monotonic() - started < 5
    assert await snapshot(pool) == before


@pytest.mark.parametrize(("name", "query", "dialect"), INERT, ids=[case[0] for case in INERT])
async def test_raw_sql_tricks_inside_literals_stay_literals(
    pool: PgPool, name: str, query: str, dialect: RawDialect
) -> None:
    before = await snapshot(pool)
    try:
        result = await run_raw_sql(pool, query, dialect=dialect, statement_timeout_ms=1_000)
        outcome = f"ran: {result.query}"
    except BadRequest as refused:  # a refusal is also acceptable, if it says why
        outcome = refused.detail
    assert outcome
    assert await snapshot(pool) == before

"""asyncpg: binary protocol and named prepared statements for everything."""

import asyncio
import datetime as dt
import decimal
import json

import asyncpg
import pytest

import clientlib as lib

ARRAY_COLUMNS = {"ai", "at"}


def run(coro):
    return asyncio.run(coro)


async def connect(ember):
    return await asyncpg.connect(host=ember.host, port=ember.port, user=ember.user, database=ember.database)


def test_external_table_and_prepared_statements(ember):
    async def scenario():
        conn = await connect(ember)
        try:
            await conn.execute(lib.employees_ddl("emp_asyncpg"))
            assert await conn.fetchval("SELECT count(*) FROM emp_asyncpg") == len(lib.employees())
            stmt = await conn.prepare(lib.PARAM_QUERY.format(table="emp_asyncpg", p1="$1", p2="$2"))
            # One prepared statement, many executions with different parameters.
            for salary, active in [(4000.0, True), (1000.0, False), (3500.5, True), (0.0, True)]:
                rows = await stmt.fetch(salary, active)
                assert [r["name"] for r in rows] == lib.names_paid_over(salary, active)
        finally:
            await conn.close()

    run(scenario())


def test_typed_row_scalars(ember):
    """Every scalar type in binary (arrays are separate: asyncpg introspects them)."""
    query = lib.TYPED_QUERY.replace("ARRAY[1, 2, 3] AS ai, ARRAY['x', 'y z', NULL] AS at,", "")
    assert "ARRAY" not in query

    async def scenario():
        conn = await connect(ember)
        try:
            row = dict(await conn.fetchrow(query))
        finally:
            await conn.close()
        # asyncpg returns json/jsonb as text unless a codec is set.
        row["j"], row["jb"] = json.loads(row["j"]), json.loads(row["jb"])
        expected = {k: v for k, v in lib.expected_typed().items() if k not in ARRAY_COLUMNS}
        assert row == expected

    run(scenario())


ARRAY_PARAMS = [
    ("bool", [True, None, False]),
    ("int2", [1, None, -2]),
    ("int4", [1, 2, None]),
    ("int8", [4, None, 6]),
    ("float8", [0.5, None]),
    ("numeric", [decimal.Decimal("1.5"), None]),
    ("text", ["x", "y z", None, ""]),
]

# Binary date[] / timestamp[] parameters: arrow-pg 0.16 has no decoder for them.
TEMPORAL_ARRAY_PARAMS = [
    ("date", [dt.date(2024, 2, 29), None]),
    ("timestamp", [dt.datetime(2024, 2, 29, 13, 14, 15), None]),
]


@pytest.mark.xfail(
    strict=True,
    reason="arrow-pg 0.16 cannot decode binary date[]/timestamp[] parameters: "
    "`SELECT $1::date[]` with a list of dates fails with 'Cannot convert postgres type _date to given rust type'",
)
@pytest.mark.parametrize("pg_type,value", TEMPORAL_ARRAY_PARAMS, ids=[p[0] for p in TEMPORAL_ARRAY_PARAMS])
def test_temporal_array_parameters(ember, pg_type, value):
    async def scenario():
        conn = await connect(ember)
        try:
            assert await conn.fetchval(f"SELECT $1::{pg_type}[]", value) == value
        finally:
            await conn.close()

    run(scenario())


def test_arrays(ember):
    """asyncpg resolves array OIDs with its WITH RECURSIVE typeinfo query over pg_type."""

    async def scenario():
        conn = await connect(ember)
        try:
            row = await conn.fetchrow("SELECT ARRAY[1, 2, 3] AS ai, ARRAY['x', 'y z', NULL] AS at")
            assert list(row["ai"]) == [1, 2, 3] and list(row["at"]) == ["x", "y z", None]
            assert await conn.fetchval("SELECT $1::int8[]", [4, None, 6]) == [4, None, 6]
            for pg_type, value in ARRAY_PARAMS:
                assert await conn.fetchval(f"SELECT $1::{pg_type}[]", value) == value, pg_type
            # The introspection answer for array types, as PostgreSQL gives it.
            info = {r["oid"]: r for r in await conn.fetch(conn._intro_query, [1007, 1009])}
            assert info[1007]["elemtype"] == 23 and info[1009]["elemtype"] == 25
            assert info[23]["elemtype"] == 0 and info[1007]["basetype"] is None
        finally:
            await conn.close()

    run(scenario())


@pytest.mark.parametrize("pg_type,value", [pytest.param(*p, id=p[0]) for p in lib.PARAMS])
def test_parameter_round_trip(ember, pg_type, value):
    async def scenario():
        conn = await connect(ember)
        try:
            assert await conn.fetchval(f"SELECT $1::{pg_type}", value) == value
        finally:
            await conn.close()

    run(scenario())


def test_uuid_parameter_as_text(ember):
    async def scenario():
        conn = await connect(ember)
        try:
            text = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
            assert str(await conn.fetchval("SELECT $1::uuid", text)) == text
        finally:
            await conn.close()

    run(scenario())


def test_error_and_recovery(ember):
    async def scenario():
        conn = await connect(ember)
        try:
            with pytest.raises(asyncpg.exceptions.UndefinedTableError) as e:
                await conn.fetch("SELECT * FROM no_such_table")
            assert e.value.sqlstate == "42P01"
            with pytest.raises(asyncpg.exceptions.DivisionByZeroError):
                await conn.fetchval("SELECT 1 / $1::int4", 0)
            assert await conn.fetchval("SELECT $1::int4 * 2", 21) == 42
        finally:
            await conn.close()

    run(scenario())


def test_transactions(ember):
    async def scenario():
        conn = await connect(ember)
        try:
            tr = conn.transaction()
            await tr.start()
            with pytest.raises(asyncpg.exceptions.UndefinedColumnError):
                await conn.fetch("SELECT no_such_column")
            with pytest.raises(asyncpg.exceptions.InFailedSQLTransactionError):
                await conn.fetch("SELECT 1")
            await tr.rollback()
            async with conn.transaction():
                assert await conn.fetchval("SELECT 5") == 5
        finally:
            await conn.close()

    run(scenario())


def test_information_schema(ember):
    async def scenario():
        conn = await connect(ember)
        try:
            await conn.execute(lib.employees_ddl("emp_asyncpg_is"))
            rows = await conn.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position",
                "emp_asyncpg_is",
            )
            assert [r[0] for r in rows] == lib.EMPLOYEE_COLUMNS
        finally:
            await conn.close()

    run(scenario())

"""psycopg 3: server-side parameters (extended protocol), text and binary results."""

import psycopg
import psycopg.errors
import pytest
from psycopg.rows import dict_row

import clientlib as lib


@pytest.fixture()
def conn(ember):
    with psycopg.connect(ember.dsn(), autocommit=True) as c:
        yield c


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_external_table_and_parameters(conn, binary):
    table = f"emp_psycopg3_{'bin' if binary else 'txt'}"
    conn.execute(lib.employees_ddl(table))
    cur = conn.cursor(binary=binary)
    cur.execute(f"SELECT count(*) FROM {table}")
    assert cur.fetchone() == (len(lib.employees()),)
    cur.execute(lib.PARAM_QUERY.format(table=table, p1="%s", p2="%s"), (4000.0, True))
    assert [r[0] for r in cur.fetchall()] == lib.names_paid_over(4000.0, True)
    # The same statement many times: psycopg prepares it server-side after 5 executions.
    for salary in [1000.0, 2500.0, 3000.0, 3500.0, 4000.0, 4500.0, 5000.0]:
        cur.execute(lib.PARAM_QUERY.format(table=table, p1="%s", p2="%s"), (salary, False))
        assert [r[0] for r in cur.fetchall()] == lib.names_paid_over(salary, False)


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_typed_row(conn, binary):
    cur = conn.cursor(binary=binary, row_factory=dict_row)
    cur.execute(lib.TYPED_QUERY)
    assert cur.fetchone() == lib.expected_typed()


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
@pytest.mark.parametrize("pg_type,value", lib.PARAMS, ids=[p[0] for p in lib.PARAMS])
def test_parameter_round_trip(conn, pg_type, value, binary):
    cur = conn.cursor(binary=binary)
    # %b sends the parameter in binary, %t as text.
    cur.execute(f"SELECT {'%b' if binary else '%t'}::{pg_type}", (value,))
    assert cur.fetchone()[0] == value


def test_error_and_recovery(conn):
    with pytest.raises(psycopg.errors.UndefinedTable) as e:
        conn.execute("SELECT * FROM no_such_table")
    assert e.value.sqlstate == "42P01"
    with pytest.raises(psycopg.errors.SyntaxError):
        conn.execute("SELEC 1")
    assert conn.execute("SELECT %s::int4 + 1", (1,)).fetchone() == (2,)


def test_transactions(ember):
    with psycopg.connect(ember.dsn()) as c:  # autocommit off: implicit BEGIN
        c.execute("SELECT 1")
        with pytest.raises(psycopg.errors.DivisionByZero):
            c.execute("SELECT 1 / 0")
        with pytest.raises(psycopg.errors.InFailedSqlTransaction):
            c.execute("SELECT 1")
        c.rollback()
        with c.transaction():
            assert c.execute("SELECT 4").fetchone() == (4,)



@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_managed_table_writes_in_transactions(ember, binary):
    """psycopg's default: every statement in a transaction. executemany prepares the
    INSERT server-side (small ints are sent as int2 for an integer column), rollback()
    sends DEALLOCATE ALL, and only committed rows are seen by another connection."""
    table = f"items_psycopg3_{'bin' if binary else 'txt'}"
    rows = [(i, f"item {i}", i * 1.5) for i in range(20)]
    with psycopg.connect(ember.dsn()) as writer, psycopg.connect(ember.dsn(), autocommit=True) as reader:
        writer.execute(f"CREATE TABLE {table} (id integer PRIMARY KEY, name text NOT NULL, price float8)")
        writer.commit()
        cur = writer.cursor(binary=binary)
        cur.executemany(f"INSERT INTO {table} VALUES (%s, %s, %s)", rows)
        assert cur.execute(f"SELECT count(*) FROM {table}").fetchone() == (20,)
        assert reader.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)
        writer.rollback()
        assert reader.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)
        cur.executemany(f"INSERT INTO {table} VALUES (%s, %s, %s)", rows)
        writer.commit()
        got = reader.execute(f"SELECT id, name, price FROM {table} ORDER BY id").fetchall()
        assert got == rows
        with pytest.raises(psycopg.errors.NotNullViolation):
            cur.execute(f"INSERT INTO {table} VALUES (%s, %s, %s)", (99, None, 1.0))
        writer.rollback()
        reader.execute(f"DROP TABLE {table}")

@pytest.mark.needs_catalog
def test_type_info_fetch(conn):
    # psycopg's TypeInfo.fetch queries pg_type (what register adapters for json/arrays use).
    info = psycopg.types.TypeInfo.fetch(conn, "int4")
    assert info is not None and info.oid == 23 and info.array_oid == 1007

"""psycopg2 (libpq, text protocol, client-side parameter interpolation)."""

import psycopg2
import psycopg2.errors
import psycopg2.extras
import pytest

import clientlib as lib

psycopg2.extras.register_uuid()


@pytest.fixture()
def conn(ember):
    c = psycopg2.connect(ember.dsn())
    c.autocommit = True
    yield c
    c.close()


def test_connect_and_external_table(conn):
    cur = conn.cursor()
    cur.execute("SELECT 1")
    assert cur.fetchone() == (1,)
    cur.execute(lib.employees_ddl("emp_psycopg2"))
    cur.execute("SELECT count(*), sum(emp_id) FROM emp_psycopg2")
    rows = lib.employees()
    assert cur.fetchone() == (len(rows), sum(r["emp_id"] for r in rows))


def test_parameterized_query(conn):
    cur = conn.cursor()
    cur.execute(lib.employees_ddl("emp_psycopg2_p"))
    cur.execute(lib.PARAM_QUERY.format(table="emp_psycopg2_p", p1="%s", p2="%s"), (4000.0, True))
    assert [r[0] for r in cur.fetchall()] == lib.names_paid_over(4000.0, True)


def test_typed_row(conn):
    cur = conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor)
    cur.execute(lib.TYPED_QUERY)
    row = dict(cur.fetchone())
    row["by"] = bytes(row["by"])  # psycopg2 returns memoryview for bytea
    assert row == lib.expected_typed()


@pytest.mark.parametrize("pg_type,value", [pytest.param(*p, id=p[0]) for p in lib.PARAMS])
def test_parameter_round_trip(conn, pg_type, value):
    cur = conn.cursor()
    cur.execute(f"SELECT %s::{pg_type}", (value,))
    got = cur.fetchone()[0]
    assert (bytes(got) if pg_type == "bytea" else got) == value


def test_bytea_literals(conn):
    """psycopg2 interpolates bytes as '\\x...'::bytea: PostgreSQL's hex input format."""
    cur = conn.cursor()
    cur.execute("SELECT %s::bytea, '\\xdeadbeef'::bytea, 'abc\\000d'::bytea", (b"\x00\xff\\x",))
    assert [bytes(v) for v in cur.fetchone()] == [b"\x00\xff\\x", b"\xde\xad\xbe\xef", b"abc\x00d"]
    with pytest.raises(psycopg2.Error) as e:
        cur.execute("SELECT '\\xabc'::bytea")
    assert e.value.pgcode == "22023"
    conn.rollback()
    cur.execute("SELECT 1")
    assert cur.fetchone() == (1,)


def test_error_and_recovery(conn):
    cur = conn.cursor()
    with pytest.raises(psycopg2.errors.UndefinedTable) as e:
        cur.execute("SELECT * FROM no_such_table")
    assert e.value.pgcode == "42P01"
    with pytest.raises(psycopg2.errors.DivisionByZero):
        cur.execute("SELECT 1 / 0")
    cur.execute("SELECT 2")
    assert cur.fetchone() == (2,)


def test_transactions(ember):
    c = psycopg2.connect(ember.dsn())  # not autocommit: psycopg2 wraps statements in BEGIN
    cur = c.cursor()
    cur.execute("SELECT 1")
    with pytest.raises(psycopg2.errors.UndefinedColumn):
        cur.execute("SELECT no_such_column")
    with pytest.raises(psycopg2.errors.InFailedSqlTransaction) as e:
        cur.execute("SELECT 1")
    assert e.value.pgcode == "25P02"
    c.rollback()
    cur.execute("SELECT 3")
    assert cur.fetchone() == (3,)
    c.commit()
    c.close()


def test_information_schema(conn):
    cur = conn.cursor()
    cur.execute(lib.employees_ddl("emp_psycopg2_is"))
    cur.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
        ("emp_psycopg2_is",),
    )
    assert [r[0] for r in cur.fetchall()] == lib.EMPLOYEE_COLUMNS


@pytest.mark.needs_catalog
def test_pg_catalog_introspection(conn):
    cur = conn.cursor()
    cur.execute(lib.employees_ddl("emp_psycopg2_pgc"))
    cur.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a "
        "WHERE a.attrelid = 'emp_psycopg2_pgc'::regclass AND a.attnum > 0 ORDER BY a.attnum"
    )
    assert [r[0] for r in cur.fetchall()] == lib.EMPLOYEE_COLUMNS

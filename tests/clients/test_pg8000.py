"""pg8000 (pure Python; extended protocol with text parameters and text results)."""

import pg8000.dbapi
import pg8000.native
import pytest

import clientlib as lib


@pytest.fixture()
def conn(ember):
    c = pg8000.native.Connection(ember.user, host=ember.host, port=ember.port, database=ember.database)
    yield c
    c.close()


def test_external_table_and_parameters(conn):
    conn.run(lib.employees_ddl("emp_pg8000"))
    assert conn.run("SELECT count(*) FROM emp_pg8000") == [[len(lib.employees())]]
    rows = conn.run(lib.PARAM_QUERY.format(table="emp_pg8000", p1=":s", p2=":a"), s=4000.0, a=True)
    assert [r[0] for r in rows] == lib.names_paid_over(4000.0, True)


def test_typed_row(conn):
    rows = conn.run(lib.TYPED_QUERY)
    row = dict(zip([c["name"] for c in conn.columns], rows[0]))
    assert row == lib.expected_typed()


@pytest.mark.parametrize("pg_type,value", lib.PARAMS, ids=[p[0] for p in lib.PARAMS])
def test_parameter_round_trip(conn, pg_type, value):
    assert conn.run(f"SELECT CAST(:v AS {pg_type})", v=value) == [[value]]


def test_error_and_recovery(conn):
    with pytest.raises(pg8000.native.DatabaseError) as e:
        conn.run("SELECT * FROM no_such_table")
    assert e.value.args[0]["C"] == "42P01"
    assert conn.run("SELECT 6") == [[6]]


def test_dbapi_transactions(ember):
    c = pg8000.dbapi.connect(ember.user, host=ember.host, port=ember.port, database=ember.database)
    cur = c.cursor()
    cur.execute("SELECT 1")
    with pytest.raises(pg8000.dbapi.DatabaseError):
        cur.execute("SELECT 1 / 0")
    with pytest.raises(pg8000.dbapi.DatabaseError) as e:
        cur.execute("SELECT 1")
    assert e.value.args[0]["C"] == "25P02"
    c.rollback()
    cur.execute("SELECT 7")
    assert cur.fetchone() == [7]
    c.close()

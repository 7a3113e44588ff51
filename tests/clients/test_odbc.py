"""psqlODBC (Debian odbc-postgresql) through unixODBC and pyodbc.

The driver queries pg_type (the large-object type) while connecting, so the whole scenario
needs pg_catalog.
"""

import pytest

import clientlib as lib

pyodbc = pytest.importorskip("pyodbc")

pytestmark = pytest.mark.skipif(
    "PostgreSQL Unicode" not in pyodbc.drivers(),
    reason="needs odbc-postgresql + unixodbc (scripts/setup.sh installs them)",
)


@pytest.fixture()
def conn(ember):
    c = pyodbc.connect(
        f"DRIVER={{PostgreSQL Unicode}};SERVER={ember.host};PORT={ember.port};BoolsAsChar=0;"
        f"DATABASE={ember.database};UID={ember.user};",
        autocommit=True,
    )
    yield c
    c.close()


@pytest.mark.needs_catalog
def test_scenario(conn):
    cur = conn.cursor()
    cur.execute(lib.employees_ddl("emp_odbc"))
    assert cur.execute("SELECT count(*) FROM emp_odbc").fetchone()[0] == len(lib.employees())
    rows = cur.execute(lib.PARAM_QUERY.format(table="emp_odbc", p1="?", p2="?"), 4000.0, True).fetchall()
    assert [r[0] for r in rows] == lib.names_paid_over(4000.0, True)
    row = cur.execute(lib.TYPED_QUERY).fetchone()
    got = dict(zip([d[0] for d in cur.description], row))
    expected = lib.expected_typed()
    for key in ["b", "i2", "i4", "i8", "f4", "f8", "n", "t", "d", "ts"]:
        assert got[key] == expected[key], key
    with pytest.raises(pyodbc.Error) as e:
        cur.execute("SELECT * FROM no_such_table")
    assert "42P01" in str(e.value)
    assert cur.execute("SELECT 9").fetchone()[0] == 9


@pytest.mark.needs_catalog
def test_catalog_functions(conn):
    cur = conn.cursor()
    cur.execute(lib.employees_ddl("emp_odbc_md"))
    tables = [t.table_name for t in cur.tables(table="emp_odbc_md")]
    assert tables == ["emp_odbc_md"]
    columns = [c.column_name for c in cur.columns(table="emp_odbc_md")]
    assert columns == lib.EMPLOYEE_COLUMNS

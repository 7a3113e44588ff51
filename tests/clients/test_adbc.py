"""ADBC's PostgreSQL driver (adbc-driver-postgresql, libpq based): it builds its type
resolver from `pg_type` (reading the `regproc` column `typreceive` by name), reads every
result with `COPY (query) TO STDOUT (FORMAT binary)` into Arrow, binds parameters as text
of unknown type, and lists objects through `pg_catalog` (`adbc_get_objects`)."""

import datetime as dt
import decimal

import pyarrow as pa
import pytest

import adbc_driver_postgresql.dbapi as adbc

import clientlib as lib


@pytest.fixture()
def conn(ember):
    c = adbc.connect(f"postgresql://{ember.user}@{ember.host}:{ember.port}/{ember.database}")
    yield c
    c.close()


@pytest.fixture(scope="module")
def employees_table(ember):
    c = adbc.connect(f"postgresql://{ember.user}@{ember.host}:{ember.port}/{ember.database}", autocommit=True)
    c.cursor().execute(lib.employees_ddl("emp_adbc"))
    c.close()
    return "emp_adbc"


def test_typed_row_arrives_as_arrow_types(conn):
    cur = conn.cursor()
    cur.execute(lib.TYPED_QUERY)
    table = cur.fetch_arrow_table()
    types = {f.name: f.type for f in table.schema}
    # Without a working type resolver every column would be an opaque binary extension.
    assert types["b"] == pa.bool_() and types["i2"] == pa.int16() and types["i4"] == pa.int32()
    assert types["i8"] == pa.int64() and types["f8"] == pa.float64() and types["t"] == pa.string()
    assert types["d"] == pa.date32() and types["ts"] == pa.timestamp("us")
    assert types["ai"] == pa.list_(pa.int32()) and types["at"] == pa.list_(pa.string())
    row = table.to_pylist()[0]
    expected = lib.expected_typed()
    for name in ["b", "i2", "i4", "i8", "f4", "f8", "t", "by", "d", "tm", "ts", "u", "ai", "at", "nul"]:
        assert row[name] == expected[name], name
    assert row["tstz"] == expected["tstz"]
    # numeric arrives as its text (as from PostgreSQL); json as text.
    assert decimal.Decimal(row["n"]) == expected["n"] and decimal.Decimal(row["big_n"]) == expected["big_n"]
    assert row["iv"].days == 1 and row["iv"].nanoseconds == 7384 * 10**9


def test_external_table_and_parameters(conn, employees_table):
    cur = conn.cursor()
    cur.execute(f"SELECT count(*) AS n FROM {employees_table}")
    assert cur.fetchone() == (len(lib.employees()),)
    cur.execute(lib.PARAM_QUERY.format(table=employees_table, p1="$1", p2="$2"), parameters=(4000.0, True))
    assert [r[0] for r in cur.fetchall()] == lib.names_paid_over(4000.0, True)
    cur.execute(f"SELECT * FROM {employees_table} ORDER BY emp_id")
    table = cur.fetch_arrow_table()
    assert table.column_names == lib.EMPLOYEE_COLUMNS
    assert table.column("name").to_pylist() == [r["name"] for r in lib.employees()]


def test_get_objects_and_table_schema(conn, employees_table):
    objects = conn.adbc_get_objects(depth="all", table_name_filter=employees_table).read_all().to_pylist()
    schemas = {s["db_schema_name"]: s for c in objects for s in c["catalog_db_schemas"]}
    tables = {t["table_name"]: t for t in schemas["public"]["db_schema_tables"]}
    columns = sorted(tables[employees_table]["table_columns"], key=lambda c: c["ordinal_position"])
    assert [c["column_name"] for c in columns] == lib.EMPLOYEE_COLUMNS
    assert tables[employees_table]["table_constraints"] == []
    schema = conn.adbc_get_table_schema(employees_table)
    assert schema.names == lib.EMPLOYEE_COLUMNS
    assert schema.field("emp_id").type == pa.int64() and schema.field("active").type == pa.bool_()


def test_error_recovery_and_unsupported_ingest(conn):
    cur = conn.cursor()
    with pytest.raises(adbc.ProgrammingError) as e:
        cur.execute("SELECT * FROM no_such_table")
    assert e.value.sqlstate == "42P01"
    conn.rollback()  # the driver runs without autocommit, as against PostgreSQL
    cur.execute("SELECT 5 AS five")
    assert cur.fetchone() == (5,)
    # Bulk ingest creates a managed table and COPYs into it in binary format: a clear "not
    # supported" until Ember reads binary COPY data, and the connection keeps working.
    with pytest.raises(adbc.NotSupportedError, match="COPY .* FROM STDIN in binary format"):
        cur.adbc_ingest("ingested_adbc", pa.table({"a": [1, 2]}), mode="create")
    conn.rollback()
    cur.execute("SELECT 6 AS six")
    assert cur.fetchone() == (6,)


def test_dates_round_trip_as_parameters(conn):
    cur = conn.cursor()
    cur.execute("SELECT CAST($1 AS date) AS d, CAST($2 AS bigint) + 1 AS n", parameters=(dt.date(2024, 2, 29), 41))
    assert cur.fetchone() == (dt.date(2024, 2, 29), 42)

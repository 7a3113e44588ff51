"""What every client scenario checks, independent of the driver: the sample data, the
typed row, parameter round trips, and the expected answers computed here in Python."""

import csv
import datetime as dt
import decimal
import pathlib
import uuid

REPO = pathlib.Path(__file__).resolve().parents[2]
DATA = REPO / "sql-tests" / "data"
EMPLOYEES_CSV = DATA / "employees.csv"


def employees():
    """employees.csv as typed dicts (the answers the server must reproduce)."""
    rows = []
    with open(EMPLOYEES_CSV, newline="") as f:
        for r in csv.DictReader(f):
            rows.append(
                {
                    "emp_id": int(r["emp_id"]),
                    "name": r["name"],
                    "dept_id": int(r["dept_id"]) if r["dept_id"] else None,
                    "salary": float(r["salary"]),
                    "active": r["active"] == "true",
                }
            )
    return rows


def names_paid_over(min_salary: float, active: bool):
    """SELECT name FROM employees WHERE salary > min AND active = active ORDER BY emp_id."""
    return [r["name"] for r in employees() if r["salary"] > min_salary and r["active"] == active]


PARAM_QUERY = "SELECT name FROM {table} WHERE salary > {p1} AND active = {p2} ORDER BY emp_id"

EMPLOYEE_COLUMNS = ["emp_id", "name", "dept_id", "salary", "hired", "manager_id", "active"]


def employees_ddl(table: str) -> str:
    return (
        f"CREATE EXTERNAL TABLE {table} STORED AS CSV "
        f"LOCATION '{EMPLOYEES_CSV}' OPTIONS ('format.has_header' 'true')"
    )


def parquet_ddl(table: str, path) -> str:
    return f"CREATE EXTERNAL TABLE {table} STORED AS PARQUET LOCATION '{path}'"


# The typed row every client reads (simple literal casts Ember plans as PostgreSQL types).
TYPED_QUERY = """
SELECT true AS b, 1::int2 AS i2, 2::int4 AS i4, 3000000000::int8 AS i8,
       1.5::float4 AS f4, 2.25::float8 AS f8,
       12345.678::numeric(10,3) AS n,
       '123456789012345678901234567890.12345678'::numeric(38,8) AS big_n,
       'héllo'::text AS t, decode('deadbeef', 'hex') AS by,
       '2024-02-29'::date AS d, '13:14:15.5'::time AS tm,
       '2024-02-29 13:14:15.25'::timestamp AS ts,
       '2024-02-29 13:14:15.25+00'::timestamptz AS tstz,
       '1 day 2 hours 3 minutes 4 seconds'::interval AS iv,
       'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS u,
       '{"a": [1, 2]}'::json AS j, '{"a": [1, 2]}'::jsonb AS jb,
       ARRAY[1, 2, 3] AS ai, ARRAY['x', 'y z', NULL] AS at, NULL::int4 AS nul
"""


def expected_typed():
    """TYPED_QUERY's row as Python values (what psycopg/asyncpg/pg8000 return)."""
    return {
        "b": True, "i2": 1, "i4": 2, "i8": 3000000000, "f4": 1.5, "f8": 2.25,
        "n": decimal.Decimal("12345.678"),
        "big_n": decimal.Decimal("123456789012345678901234567890.12345678"),
        "t": "héllo", "by": b"\xde\xad\xbe\xef",
        "d": dt.date(2024, 2, 29), "tm": dt.time(13, 14, 15, 500000),
        "ts": dt.datetime(2024, 2, 29, 13, 14, 15, 250000),
        "tstz": dt.datetime(2024, 2, 29, 13, 14, 15, 250000, tzinfo=dt.timezone.utc),
        "iv": dt.timedelta(days=1, hours=2, minutes=3, seconds=4),
        "u": uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        "j": {"a": [1, 2]}, "jb": {"a": [1, 2]},
        "ai": [1, 2, 3], "at": ["x", "y z", None], "nul": None,
    }


# Parameter round trips: (PostgreSQL type, Python value) sent as a bound parameter and
# read back with `SELECT <param>::<type>`.
PARAMS = [
    ("bool", True),
    ("int2", -12),
    ("int4", 123456),
    ("int8", 2**40),
    ("float8", 0.1),
    ("numeric", decimal.Decimal("-98765.4321")),
    ("text", "tab\there 'quoted' \"double\" ünï"),
    ("bytea", b"\x00\xffbin"),
    ("date", dt.date(2024, 2, 29)),
    ("timestamp", dt.datetime(2024, 2, 29, 13, 14, 15, 250000)),
    ("timestamptz", dt.datetime(2024, 2, 29, 13, 14, 15, 250000, tzinfo=dt.timezone.utc)),
    ("uuid", uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")),
]

# The same typed row's values as PostgreSQL prints them (psql -At, JDBC getString, ...).
EXPECTED_TEXT = {
    "b": "t", "i2": "1", "i4": "2", "i8": "3000000000", "f4": "1.5", "f8": "2.25",
    "n": "12345.678", "big_n": "123456789012345678901234567890.12345678",
    "t": "héllo", "by": "\\xdeadbeef", "d": "2024-02-29", "tm": "13:14:15.5",
    "ts": "2024-02-29 13:14:15.25", "tstz": "2024-02-29 13:14:15.25+00",
    "iv": "1 day 02:03:04", "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
    "j": '{"a": [1, 2]}', "jb": '{"a": [1, 2]}', "ai": "{1,2,3}", "at": '{x,"y z",NULL}', "nul": None,
}


def require(available: bool, what: str):
    """Skip a client whose tool is missing on a developer machine; fail under CI (CI=true),
    where scripts/setup.sh must have installed it."""
    import os

    import pytest

    if available:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{what} is missing (scripts/setup.sh installs it)")
    pytest.skip(f"{what} is missing (run scripts/setup.sh)")

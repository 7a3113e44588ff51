"""pandas.read_sql over plain DB-API connections (psycopg2, psycopg 3); the SQLAlchemy
engine variant is in test_sqlalchemy.py."""

import warnings

import pandas as pd
import psycopg
import psycopg2
import pytest

import clientlib as lib


@pytest.fixture(params=["psycopg2", "psycopg"])
def dbapi(request, ember):
    c = psycopg2.connect(ember.dsn()) if request.param == "psycopg2" else psycopg.connect(ember.dsn())
    yield c
    c.close()


def read_sql(sql, conn, **kw):
    with warnings.catch_warnings():
        # pandas warns that only SQLAlchemy connectables are "supported"; DB-API works.
        warnings.simplefilter("ignore", UserWarning)
        return pd.read_sql(sql, conn, **kw)


def test_read_sql_table(dbapi, request):
    table = f"emp_pandas_{request.node.callspec.id}"
    cur = dbapi.cursor()
    cur.execute(lib.employees_ddl(table))
    dbapi.commit()
    df = read_sql(f"SELECT emp_id, name, salary, active FROM {table} ORDER BY emp_id", dbapi)
    expected = lib.employees()
    assert list(df.columns) == ["emp_id", "name", "salary", "active"]
    assert df["emp_id"].tolist() == [r["emp_id"] for r in expected]
    assert df["name"].tolist() == [r["name"] for r in expected]
    assert df["salary"].tolist() == pytest.approx([r["salary"] for r in expected])
    assert df["active"].tolist() == [r["active"] for r in expected]


def test_read_sql_params_and_types(dbapi):
    df = read_sql("SELECT x, x * %s AS y FROM (VALUES (1), (2), (3)) AS t(x) ORDER BY x", dbapi, params=(2,))
    assert df["y"].tolist() == [2, 4, 6]
    typed = read_sql(lib.TYPED_QUERY, dbapi, coerce_float=False)  # keep numeric as Decimal
    exp = lib.expected_typed()
    assert typed.loc[0, "big_n"] == exp["big_n"]
    assert typed.loc[0, "ts"] == pd.Timestamp(exp["ts"])
    assert typed.loc[0, "tstz"] == pd.Timestamp("2024-02-29 13:14:15.25", tz="UTC")
    assert typed.loc[0, "t"] == "héllo"
    assert pd.isna(typed.loc[0, "nul"])

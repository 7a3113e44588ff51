"""Apache Superset 6.1 (SQLAlchemy 1.4's postgresql dialect over psycopg2), from its own
virtualenv ($EMBER_SUPERSET_VENV, made by scripts/setup.sh): Superset's own database
introspection and SQL Lab query path against Ember, run by tests/clients/superset/
introspect.py inside a Superset app — `Database` with the `PostgresEngineSpec`: catalogs,
schemas, table and view names, columns with types, primary key, foreign keys, indexes,
table comment, `select_star`, a dataset's physical columns, and a query with the `LIMIT`
SQL Lab adds, run through `Database.get_df`."""

import json
import os
import pathlib
import subprocess

import psycopg2
import pytest

import clientlib as lib

SUPERSET_VENV = pathlib.Path(os.environ.get("EMBER_SUPERSET_VENV", "/work/.venv-superset"))
PYTHON = SUPERSET_VENV / "bin" / "python"
SCRIPT = pathlib.Path(__file__).resolve().parent / "superset" / "introspect.py"
TABLE, VIEW = "superset_employees", "superset_emp_view"


@pytest.fixture(scope="module")
def answers(ember, tmp_path_factory):
    lib.require(PYTHON.exists() and (SUPERSET_VENV / "bin" / "superset").exists(), f"Superset ({SUPERSET_VENV})")
    with psycopg2.connect(ember.dsn()) as conn:
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute(lib.employees_ddl(TABLE))
        cur.execute(f"CREATE VIEW {VIEW} AS SELECT emp_id, name FROM {TABLE}")
    home = tmp_path_factory.mktemp("superset")
    out = subprocess.run(
        [str(PYTHON), str(SCRIPT), ember.url("postgresql+psycopg2"), TABLE, VIEW, str(home / "answers.json")],
        env={**os.environ, "SUPERSET_HOME": str(home)}, capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, f"Superset introspection failed:\n{out.stderr[-6000:]}"
    return json.loads((home / "answers.json").read_text())


def test_engine_spec_and_catalog(answers):
    assert answers["engine_spec"] == "PostgresEngineSpec"
    assert answers["default_catalog"] == "ember"
    assert "ember" in answers["catalogs"]
    assert answers["default_schema"] == "public"


def test_schemas_tables_views(answers):
    # Superset hides pg_catalog (the dialect lists schemas not named pg_*). PostgreSQL also
    # lists information_schema; Ember's pg_namespace has no row for it (README).
    assert "public" in answers["schemas"]
    assert not any(s.startswith("pg_") for s in answers["schemas"])
    assert TABLE in answers["tables"] and VIEW not in answers["tables"]
    assert VIEW in answers["views"] and TABLE not in answers["views"]
    assert answers["materialized_views"] == []
    assert answers["has_table"] and answers["has_view"]


def test_columns_and_constraints(answers):
    columns = {c["name"]: c["type"] for c in answers["columns"]}
    assert list(columns) == lib.EMPLOYEE_COLUMNS
    assert columns == {
        "emp_id": "BIGINT", "name": "TEXT", "dept_id": "BIGINT", "salary": "DOUBLE_PRECISION",
        "hired": "DATE", "manager_id": "BIGINT", "active": "BOOLEAN",
    }
    assert answers["view_columns"] == ["emp_id", "name"]
    assert answers["pk"] == {"constrained_columns": [], "name": None} or answers["pk"]["constrained_columns"] in (None, [])
    assert answers["foreign_keys"] == []
    assert answers["indexes"] == []
    assert answers["table_comment"] is None
    dataset = {c["name"]: (c["type"], c["is_dttm"]) for c in answers["dataset_columns"]}
    assert dataset["hired"] == ("DATE", True) and dataset["salary"] == ("DOUBLE PRECISION", False)


def test_select_star_and_sql_lab_limit(answers):
    star = answers["select_star"]
    assert star.startswith("SELECT\n  emp_id,\n  name,") and star.endswith(f"FROM public.{TABLE}\nLIMIT 5"), star
    assert answers["select_star_rows"] == 5
    assert answers["limited_sql"].endswith("LIMIT 3")
    first = lib.employees()[:3]
    assert [[row[0], row[1], row[3]] for row in answers["limited_rows"]] == [
        [str(r["emp_id"]), r["name"], str(r["salary"])] for r in first
    ]

"""dbt-postgres 1.11 (psycopg2 underneath), from its own virtualenv ($EMBER_DBT_VENV,
made by scripts/setup.sh): `dbt debug`, then `dbt run` of the project in tests/clients/dbt
twice — a view over an external table, a `table` model (a managed table made by CREATE
TABLE AS and swapped in through `ALTER TABLE ... RENAME TO`, the backup dropped) and an
`incremental` model with a unique key (the second run goes through a temporary table, a
DELETE of the overlapping keys and an INSERT) — then a model that fails and a run that
recovers.

What dbt sends (recorded from PostgreSQL): `BEGIN`/`COMMIT`/`ROLLBACK` around everything,
`create schema if not exists`, its relation listing over `pg_tables`/`pg_views`/
`pg_matviews`/`pg_proc`, the view-dependency query over `pg_depend`/`pg_rewrite`/`pg_class`,
`create view ... __dbt_tmp as (...)`, `alter table ... rename to ...` and
`drop view if exists ... cascade`.
"""

import os
import pathlib
import shutil
import subprocess

import psycopg2
import pytest

import clientlib as lib

DBT_VENV = pathlib.Path(os.environ.get("EMBER_DBT_VENV", "/work/.venv-dbt"))
DBT = DBT_VENV / "bin" / "dbt"
PROJECT = pathlib.Path(__file__).resolve().parent / "dbt"
SCHEMA = "dbt_smoke"


@pytest.fixture(scope="module")
def project(ember, tmp_path_factory):
    lib.require(DBT.exists(), f"dbt ({DBT})")
    tmp = tmp_path_factory.mktemp("dbt")
    shutil.copytree(PROJECT, tmp / "project")
    (tmp / "profiles.yml").write_text(
        "ember:\n"
        "  target: dev\n"
        "  outputs:\n"
        "    dev:\n"
        "      type: postgres\n"
        f"      host: {ember.host}\n"
        f"      port: {ember.port}\n"
        f"      user: {ember.user}\n"
        "      password: ''\n"
        f"      dbname: {ember.database}\n"
        f"      schema: {SCHEMA}\n"
        "      threads: 1\n"
    )
    with psycopg2.connect(ember.dsn()) as conn:
        conn.autocommit = True
        conn.cursor().execute(lib.employees_ddl("dbt_employees"))
    return tmp


def dbt(project, *args):
    env = {
        **os.environ,
        "DBT_PROFILES_DIR": str(project),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_LOG_PATH": str(project / "logs"),
        "DBT_TARGET_PATH": str(project / "target"),
        "NO_COLOR": "1",
    }
    return subprocess.run(
        [str(DBT), "--no-use-colors", *args], cwd=project / "project", env=env, capture_output=True, text=True, timeout=600
    )


def query(ember, sql):
    with psycopg2.connect(ember.dsn()) as conn:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()


def expected_payroll():
    return [(r["emp_id"], r["name"], r["dept_id"], r["salary"]) for r in lib.employees() if r["active"]]


def relations(ember):
    return query(
        ember,
        f"SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = '{SCHEMA}' ORDER BY 1",
    )


def test_debug(project):
    out = dbt(project, "debug")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Connection test: [OK connection ok]" in out.stdout
    assert "All checks passed!" in out.stdout


def test_run_twice(ember, project):
    employees = [(r["emp_id"], r["name"], r["dept_id"], r["salary"]) for r in lib.employees()]
    for attempt in (1, 2):
        out = dbt(project, "run")
        assert out.returncode == 0, f"dbt run #{attempt}:\n{out.stdout}{out.stderr}"
        assert "PASS=3 WARN=0 ERROR=0" in out.stdout, out.stdout
        rows = query(ember, f"SELECT emp_id, name, dept_id, salary FROM {SCHEMA}.active_payroll ORDER BY emp_id")
        assert rows == expected_payroll()
        rows = query(ember, f"SELECT emp_id, name, dept_id, salary FROM {SCHEMA}.payroll_table ORDER BY emp_id")
        assert rows == expected_payroll()
        rows = query(ember, f"SELECT emp_id, name, dept_id, salary FROM {SCHEMA}.payroll_incremental ORDER BY emp_id")
        assert rows == (employees[:20] if attempt == 1 else employees), f"run #{attempt}"
        # The swaps left only the models: no __dbt_tmp, no __dbt_backup.
        assert relations(ember) == [("active_payroll", "VIEW"), ("payroll_incremental", "BASE TABLE"), ("payroll_table", "BASE TABLE")]
    assert query(ember, f"SELECT viewname FROM pg_views WHERE schemaname = '{SCHEMA}'") == [("active_payroll",)]
    assert query(ember, f"SELECT tablename FROM pg_tables WHERE schemaname = '{SCHEMA}' ORDER BY 1") == [("payroll_incremental",), ("payroll_table",)]


def test_failing_model_then_recovery(ember, project):
    broken = project / "project" / "models" / "broken.sql"
    broken.write_text("select no_such_column from {{ source('raw', 'dbt_employees') }}\n")
    try:
        out = dbt(project, "run", "--select", "broken")
        assert out.returncode == 1, out.stdout
        assert "no_such_column" in out.stdout and "ERROR=1" in out.stdout, out.stdout
    finally:
        broken.unlink()
    out = dbt(project, "run", "--select", "active_payroll")
    assert out.returncode == 0, out.stdout + out.stderr
    assert ("broken",) not in query(ember, f"SELECT viewname FROM pg_views WHERE schemaname = '{SCHEMA}'")
    assert query(ember, f"SELECT count(*) FROM {SCHEMA}.active_payroll")[0][0] == len(expected_payroll())

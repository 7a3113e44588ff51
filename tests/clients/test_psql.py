"""psql (libpq, simple query protocol), non-interactive."""

import subprocess

import pytest

import clientlib as lib


def psql(ember, *args, sql=None, check=True, env=None):
    cmd = ["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", *args]
    if sql is not None:
        cmd += ["-c", sql]
    out = subprocess.run(cmd, env={**ember.env(), **(env or {})}, capture_output=True, text=True, timeout=60)
    if check and out.returncode != 0:
        raise AssertionError(f"psql failed ({out.returncode}): {out.stderr}")
    return out


def psql_script(ember, script, *args):
    """Feed a script on stdin (errors do not stop it); returns the CompletedProcess."""
    return subprocess.run(
        ["psql", "-X", "-q", "-At", "-v", "VERBOSITY=verbose", *args], input=script, env=ember.env(),
        capture_output=True, text=True, timeout=60,
    )


def test_external_table_and_query(ember):
    psql(ember, sql=lib.employees_ddl("emp_psql"))
    out = psql(ember, sql="SELECT count(*) FROM emp_psql")
    assert out.stdout.strip() == str(len(lib.employees()))


def test_parameterized_query(ember):
    # psql's \bind (PostgreSQL 16+) sends the extended protocol; older psql: PREPARE/EXECUTE.
    psql(ember, sql=lib.employees_ddl("emp_psql_p"))
    script = (
        "PREPARE q(float8, bool) AS " + lib.PARAM_QUERY.format(table="emp_psql_p", p1="$1", p2="$2") + ";\n"
        "EXECUTE q(4000, true);\n"
    )
    out = psql_script(ember, script, "-v", "ON_ERROR_STOP=1")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == lib.names_paid_over(4000.0, True)


def test_typed_row_text(ember):
    out = psql(ember, "-F", "\t", "-P", "null=<NULL>", sql=lib.TYPED_QUERY)
    values = out.stdout.rstrip("\n").split("\t")
    expected = [v if v is not None else "<NULL>" for v in lib.EXPECTED_TEXT.values()]
    assert dict(zip(lib.EXPECTED_TEXT, values)) == dict(zip(lib.EXPECTED_TEXT, expected))


def test_error_and_recovery(ember):
    out = psql_script(ember, "SELECT * FROM no_such_table;\nSELECT 'still here';\n")
    assert "42P01" in out.stderr
    assert out.stdout.strip() == "still here"


def test_transactions(ember):
    script = "BEGIN;\nSELECT 1/0;\nSELECT 1;\nROLLBACK;\nSELECT 'after rollback';\n"
    out = psql_script(ember, script)
    assert "22012" in out.stderr and "25P02" in out.stderr, out.stderr
    assert out.stdout.strip() == "after rollback"


def test_ssl_refused_without_tls(ember):
    out = psql(ember, sql="SELECT 1", check=False, env={"PGSSLMODE": "require"})
    assert out.returncode != 0 and "does not support SSL" in out.stderr


@pytest.mark.needs_catalog
def test_describe_table(ember):
    psql(ember, sql=lib.employees_ddl("emp_psql_d"))
    out = psql(ember, sql="\\d emp_psql_d")
    for column in lib.EMPLOYEE_COLUMNS:
        assert column in out.stdout


@pytest.mark.needs_catalog
def test_list_tables(ember):
    psql(ember, sql=lib.employees_ddl("emp_psql_dt"))
    out = psql(ember, sql="\\dt")
    assert "emp_psql_dt" in out.stdout

"""pgjdbc (Debian libpostgresql-jdbc-java): tests/clients/java/EmberJdbc.java, compiled here."""

import pathlib
import shutil
import subprocess

import pytest

import clientlib as lib

JAR = pathlib.Path("/usr/share/java/postgresql.jar")
SOURCE = pathlib.Path(__file__).parent / "java" / "EmberJdbc.java"

pytestmark = pytest.mark.skipif(
    not JAR.exists() or shutil.which("javac") is None,
    reason="needs javac and libpostgresql-jdbc-java (scripts/setup.sh installs them)",
)


@pytest.fixture(scope="module")
def classes(tmp_path_factory):
    out = tmp_path_factory.mktemp("jdbc")
    subprocess.run(["javac", "-d", str(out), str(SOURCE)], check=True, capture_output=True, timeout=300)
    return out


def run(ember, classes, mode, **params):
    query = "&".join(f"{k}={v}" for k, v in {"user": ember.user, **params}.items())
    url = f"jdbc:postgresql://{ember.host}:{ember.port}/{ember.database}?{query}"
    proc = subprocess.run(
        ["java", "-cp", f"{JAR}:{classes}", "EmberJdbc", url, mode, str(lib.EMPLOYEES_CSV), lib.TYPED_QUERY],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [line.split("\t", 1) for line in proc.stdout.splitlines()]
    return lines


def test_scenario(ember, classes):
    lines = run(ember, classes, "scenario")
    got = dict(lines)
    assert got["count"] == str(len(lib.employees()))
    expected_names = ",".join(lib.names_paid_over(4000.0, True))
    # prepareThreshold switching (unnamed/text -> named/binary at run 5): identical answers.
    for run_no in range(1, 11):
        assert got[f"param_run_{run_no}"] == expected_names, f"run {run_no}"
    typed = [got[f"typed_run_{n}"] for n in range(1, 11)]
    assert all(t == typed[0] for t in typed), "\n".join(typed)
    row = dict(item.split("=", 1) for item in typed[0].split("|"))
    expected = {k: ("<NULL>" if v is None else v) for k, v in lib.EXPECTED_TEXT.items()}
    expected["at"] = "{x,y z,NULL}"  # array elements printed unquoted by EmberJdbc.valueText
    assert row == expected
    params = [got[f"params_run_{n}"] for n in range(1, 8)]
    assert all(p == params[0] for p in params), "\n".join(params)
    assert params[0] == '1099511627776|-98765.4321|it\'s "quoted" ünï|2024-02-29|2024-02-29 13:14:15.25|[0, -1, 98]|true'
    assert got["error"] == "42P01" and got["after_error"] == "2"
    assert got["tx_error"] == "22012" and got["tx_aborted"] == "25P02" and got["after_rollback"] == "3"


def test_binary_transfer_from_first_run(ember, classes):
    """prepareThreshold=1: named statements and binary results from the first execution."""
    got = dict(run(ember, classes, "scenario", prepareThreshold="1"))
    typed = [got[f"typed_run_{n}"] for n in range(1, 11)]
    assert all(t == typed[0] for t in typed)


@pytest.mark.needs_catalog
def test_database_metadata(ember, classes):
    lines = run(ember, classes, "metadata")
    tables = [v for k, v in lines if k == "table"]
    columns = [v.split()[0] for k, v in lines if k == "column"]
    assert tables == ["public.emp_jdbc_md TABLE"]
    assert columns == lib.EMPLOYEE_COLUMNS
    # The rest of DatabaseMetaData that BI tools' sync and navigators call (Metabase,
    # DBeaver): every call answers; Ember has no keys or indexes, so those are empty.
    md = {k[3:]: v for k, v in lines if k.startswith("md_")}
    assert not [f"{k}: {v}" for k, v in md.items() if v.startswith("ERROR")]
    count = {k: int(v.split()[0]) for k, v in md.items()}
    assert count["primaryKeys"] == count["importedKeys"] == count["exportedKeys"] == count["indexInfo"] == 0
    assert count["typeInfo"] > 100 and md["typeInfo"].split()[1].startswith("bool,")
    assert count["catalogs"] == 1 and md["catalogs"].split()[1] == "ember,"
    assert count["schemas"] >= 2 and count["tableTypes"] > 0 and count["allTables"] > 1

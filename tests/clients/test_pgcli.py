"""pgcli 4 (psycopg 3 underneath), non-interactive: `pgcli -c` / `pgcli -f` runs, its
backslash commands (pgspecial), and the completion refresh pgcli runs at startup —
pgcli's own `PGExecute` catalog queries (search path, schemata, tables, columns, views,
foreign keys, datatypes, databases, functions, casing) fed into its `PGCompleter`, through
the same `CompletionRefresher` the interactive prompt uses."""

import importlib.util
import pathlib
import subprocess
import sys
import threading

import pytest

import clientlib as lib

lib_ok = importlib.util.find_spec("pgcli") is not None
PGCLI = pathlib.Path(sys.executable).parent / "pgcli"


@pytest.fixture(autouse=True)
def _need_pgcli():
    lib.require(lib_ok and PGCLI.exists(), "pgcli (scripts/requirements.txt)")


@pytest.fixture
def home(tmp_path):
    """pgcli writes its config, log and history under ~/.config/pgcli: keep them here.
    on_error = RESUME makes `-f` go on after a failed statement (psql's default)."""
    config = tmp_path / ".config" / "pgcli"
    config.mkdir(parents=True)
    (config / "config").write_text("[main]\non_error = RESUME\npager = cat\n")
    return tmp_path


def pgcli(ember, home, *args, check=True):
    env = {**ember.env(), "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "PAGER": "cat", "TERM": "dumb"}
    cmd = [str(PGCLI), "-h", ember.host, "-p", str(ember.port), "-U", ember.user, "-d", ember.database,
           "-w", "--less-chatty", *args]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    if check and out.returncode != 0:
        raise AssertionError(f"pgcli failed ({out.returncode}):\nstdout: {out.stdout}\nstderr: {out.stderr}")
    return out


def table_cells(output: str):
    """Rows of pgcli's default psql-style table output: `| a | b |` lines, header first."""
    rows = []
    for line in output.splitlines():
        line = line.strip()
        if line.startswith("|") and line.endswith("|") and set(line) - set("|+-"):
            rows.append([cell.strip() for cell in line[1:-1].split("|")])
    return rows


def test_command_mode_query(ember, home):
    pgcli(ember, home, "-c", lib.employees_ddl("emp_pgcli"))
    sql = lib.PARAM_QUERY.format(table="emp_pgcli", p1="4000", p2="true")
    out = pgcli(ember, home, "-c", sql)
    rows = table_cells(out.stdout)
    assert rows[0] == ["name"], out.stdout
    assert [r[0] for r in rows[1:]] == lib.names_paid_over(4000.0, True)
    assert f"SELECT {len(rows) - 1}" in out.stdout


def test_prepared_statement_in_one_session(ember, home):
    pgcli(ember, home, "-c", lib.employees_ddl("emp_pgcli_p"))
    prepare = "PREPARE q(float8, bool) AS " + lib.PARAM_QUERY.format(table="emp_pgcli_p", p1="$1", p2="$2")
    out = pgcli(ember, home, "-c", prepare, "-c", "EXECUTE q(4000, true)")
    assert [r[0] for r in table_cells(out.stdout)[1:]] == lib.names_paid_over(4000.0, True)


def test_file_mode_error_and_recovery(ember, home, tmp_path):
    script = tmp_path / "script.sql"
    script.write_text("SELECT * FROM no_such_table;\nSELECT 'still here' AS msg;\nSELECT 1/0;\nSELECT 41 + 1 AS answer;\n")
    out = pgcli(ember, home, "-f", str(script), check=False)
    assert "no_such_table" in out.stderr + out.stdout
    assert "Divide by zero" in out.stderr + out.stdout or "division by zero" in (out.stderr + out.stdout).lower()
    cells = table_cells(out.stdout)
    assert ["msg"] in cells and ["still here"] in cells, out.stdout
    assert ["answer"] in cells and ["42"] in cells, out.stdout


def test_typed_row(ember, home):
    """The typed row as pgcli prints it (pgcli loads date/time/json/bytea as text)."""
    out = pgcli(ember, home, "-c", lib.TYPED_QUERY)
    header, values = table_cells(out.stdout)[:2]
    got = dict(zip(header, values))
    expected = {k: ("<null>" if v is None else v) for k, v in lib.EXPECTED_TEXT.items()}
    # pgcli formats non-text values itself: arrays as Python lists, booleans as True/False,
    # bytea as psycopg's text, intervals as Python timedeltas.
    expected.update({"b": "True", "ai": "[1, 2, 3]", "at": "['x', 'y z', None]", "iv": "1 day, 2:03:04"})
    assert got == expected


def test_backslash_commands(ember, home):
    pgcli(ember, home, "-c", lib.employees_ddl("emp_pgcli_d"))
    pgcli(ember, home, "-c", "CREATE VIEW emp_pgcli_v AS SELECT name FROM emp_pgcli_d")
    out = pgcli(ember, home, "-c", "\\dt")
    assert ["public", "emp_pgcli_d", "table", "postgres"] in table_cells(out.stdout), out.stdout
    out = pgcli(ember, home, "-c", "\\dv")
    assert ["public", "emp_pgcli_v", "view", "postgres"] in table_cells(out.stdout), out.stdout
    out = pgcli(ember, home, "-c", "\\d emp_pgcli_d")
    columns = [r[0] for r in table_cells(out.stdout)[1:]]
    assert columns == lib.EMPLOYEE_COLUMNS, out.stdout
    out = pgcli(ember, home, "-c", "\\dn")
    assert ["public", "postgres"] in table_cells(out.stdout), out.stdout


@pytest.fixture
def executor(ember):
    from pgcli.pgexecute import PGExecute

    e = PGExecute(ember.database, ember.user, None, ember.host, str(ember.port))
    yield e
    e.conn.close()


def test_startup_introspection_queries(ember, executor):
    """Each catalog query of pgcli's completion refresh, called as the refresher calls it."""
    with executor.conn.cursor() as cur:
        cur.execute(lib.employees_ddl("emp_pgcli_c"))
        cur.execute("CREATE VIEW emp_pgcli_cv AS SELECT emp_id, name FROM emp_pgcli_c")
    assert executor.search_path()[:2] == ["pg_catalog", "public"]
    # (PostgreSQL also lists information_schema here; Ember's pg_namespace does not.)
    assert {"public", "pg_catalog"} <= set(executor.schemata())
    assert ("public", "emp_pgcli_c") in list(executor.tables())
    assert ("public", "emp_pgcli_cv") in list(executor.views())
    assert ("public", "emp_pgcli_cv") not in list(executor.tables())
    columns = [(c[2], c[3]) for c in executor.table_columns() if c[:2] == ("public", "emp_pgcli_c")]
    assert [name for name, _ in columns] == lib.EMPLOYEE_COLUMNS
    assert dict(columns)["emp_id"] == "bigint" and dict(columns)["name"] == "text"
    view_columns = [c[2] for c in executor.view_columns() if c[:2] == ("public", "emp_pgcli_cv")]
    assert view_columns == ["emp_id", "name"]
    assert list(executor.foreignkeys()) == []
    assert isinstance(list(executor.datatypes()), list)
    assert "ember" in executor.databases()
    functions = list(executor.functions())
    assert any(f.func_name == "version" and f.schema_name == "pg_catalog" for f in functions)
    # Casing learns from SQL/PL/pgSQL function bodies: none here, so no words (as in
    # PostgreSQL without such functions); the query must run.
    assert list(executor.casing()) == []


def test_completion_refresh(ember, executor, tmp_path):
    """pgcli's background refresh as the prompt starts it; then its completions."""
    from pgcli.completion_refresher import CompletionRefresher
    from pgspecial.main import PGSpecial
    from prompt_toolkit.document import Document

    with executor.conn.cursor() as cur:
        cur.execute(lib.employees_ddl("emp_pgcli_r"))
    done = threading.Event()
    completers = []

    def callback(completer):
        completers.append(completer)
        done.set()

    settings = {"casing_file": str(tmp_path / "casing"), "generate_casing_file": True, "single_connection": False}
    errors = []
    previous_hook = threading.excepthook
    threading.excepthook = lambda args: (errors.append(args.exc_value), done.set())
    try:
        CompletionRefresher().refresh(executor, PGSpecial(), callback, settings=settings)
        assert done.wait(120), "completion refresh did not finish"
    finally:
        threading.excepthook = previous_hook
    assert not errors, f"completion refresh raised: {errors[0]!r}"
    completer = completers[0]

    def complete(text, cursor=None):
        document = Document(text=text, cursor_position=len(text) if cursor is None else cursor)
        return {c.text for c in completer.get_completions(document, None)}

    assert "emp_pgcli_r" in complete("SELECT * FROM emp_pgcli_")
    assert {"salary", "manager_id"} <= complete("SELECT  FROM emp_pgcli_r", cursor=7)
    assert (tmp_path / "casing").read_text() == ""  # written by the refresh (see above)

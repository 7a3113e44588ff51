#!/usr/bin/env python3
"""Record the catalog queries real PostgreSQL clients send, for replay against Ember.

Starts a throw-away PostgreSQL (Debian's `postgresql` package) with log_statement=all,
creates TPC-H `lineitem` and a view, then runs each client's introspection:
psql meta-commands, pgjdbc DatabaseMetaData.getTables/getColumns, asyncpg's type
introspection (first use of array types), SQLAlchemy's inspector (get_table_names,
get_columns). Every logged statement (with its bind parameters) is written to
sql-tests/introspection/<client>.sql, which server/tests/it/introspection.rs replays.
pgcli's startup completion refresh (its PGExecute catalog queries), dbt's `dbt run` of
tests/clients/dbt (catalog queries only) and Superset's introspection
(tests/clients/superset/introspect.py, catalog queries only) are recorded when their
virtualenvs exist. Npgsql's type-loading batch is not recorded here (no .NET on the build machine):
npgsql.sql holds it as rendered from Npgsql's PostgresDatabaseInfo.cs.

Usage: sql-tests/tools/record_introspection.py   (run as root or as a user that can initdb)
"""
import glob
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "sql-tests", "introspection")
VENV_PY = os.path.join(os.environ.get("EMBER_VENV", "/work/.venv-ember"), "bin", "python")
DBT = os.path.join(os.environ.get("EMBER_DBT_VENV", "/work/.venv-dbt"), "bin", "dbt")
SUPERSET_PY = os.path.join(os.environ.get("EMBER_SUPERSET_VENV", "/work/.venv-superset"), "bin", "python")
CLIENTS = ("psql", "pgjdbc", "asyncpg", "sqlalchemy", "pgcli", "dbt", "superset")
# Clients whose sessions also create and drop things: only their catalog queries are kept.
CATALOG_ONLY = ("dbt", "superset")
PSQL_COMMANDS = [r"\l", r"\dn", r"\dt", r"\dv", r"\d lineitem", r"\d+ lineitem", r"\df", r"\d", r"\dv+", r"\dt+"]

LINEITEM = """CREATE TABLE lineitem (l_orderkey bigint not null, l_partkey bigint not null,
 l_suppkey bigint not null, l_linenumber integer not null, l_quantity numeric(15,2) not null,
 l_extendedprice numeric(15,2) not null, l_discount numeric(15,2) not null, l_tax numeric(15,2) not null,
 l_returnflag varchar not null, l_linestatus varchar not null, l_shipdate date not null,
 l_commitdate date not null, l_receiptdate date not null, l_shipinstruct varchar not null,
 l_shipmode varchar not null, l_comment varchar not null);
CREATE VIEW v_lineitem_count AS SELECT count(*) AS n FROM lineitem;"""

JAVA = """import java.sql.*;
public class Meta { public static void main(String[] a) throws Exception {
  try (Connection c = DriverManager.getConnection(a[0], "postgres", "")) {
    DatabaseMetaData md = c.getMetaData();
    try (ResultSet rs = md.getTables(null, "public", "%", new String[]{"TABLE", "VIEW"})) { while (rs.next()) {} }
    try (ResultSet rs = md.getColumns(null, "public", "lineitem", "%")) { while (rs.next()) {} }
  } } }"""

PYTHON = """import asyncio, sys, asyncpg, sqlalchemy
port = int(sys.argv[1])
async def main():
    c = await asyncpg.connect(host="127.0.0.1", port=port, user="postgres", database="postgres",
                              server_settings={"application_name": "asyncpg"})
    await c.fetch("SELECT $1::int8[] AS a, $2::numeric[] AS b", [1, 2], [1])
    await c.close()
asyncio.run(main())
e = sqlalchemy.create_engine(f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres?application_name=sqlalchemy")
i = sqlalchemy.inspect(e)
i.get_table_names(); i.get_view_names(); i.get_columns("lineitem")
"""

# pgcli's completion refresh as its prompt starts it (casing included).
PGCLI = """import sys, tempfile, threading
from pgcli.completion_refresher import CompletionRefresher
from pgcli.pgexecute import PGExecute
from pgspecial.main import PGSpecial
e = PGExecute("postgres", "postgres", None, "127.0.0.1", sys.argv[1], application_name="pgcli")
done = threading.Event()
settings = {"casing_file": tempfile.mktemp(), "generate_casing_file": True, "single_connection": True}
CompletionRefresher().refresh(e, PGSpecial(), lambda completer: done.set(), settings=settings)
assert done.wait(60)
"""

DBT_PROFILE = """ember:
  target: dev
  outputs:
    dev: {{type: postgres, host: 127.0.0.1, port: {port}, user: postgres, password: '', dbname: postgres, schema: dbt_smoke, threads: 1}}
"""


def tab_completion(port):
    """Drive an interactive psql through a pty and press TAB where users do."""
    import pty
    import select
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["PGAPPNAME"] = "psql"
        os.execvp("psql", ["psql", "-X", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", "postgres"])

    def drain(seconds):
        end = time.time() + seconds
        while time.time() < end:
            if select.select([fd], [], [], 0.1)[0]:
                try:
                    os.read(fd, 4096)
                except OSError:
                    return
    drain(1.0)
    for text in ["SELECT * FROM line\t\t", "\x15", "\\d li\t\t", "\x15", "\\dn pu\t\t", "\x15",
                 "SET sea\t\t", "\x15"]:
        os.write(fd, text.encode())
        drain(0.7)
    os.write(fd, b"\\q\n")
    drain(0.5)
    os.waitpid(pid, 0)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_postgres(cmd):
    if os.geteuid() == 0:
        return ["su", "postgres", "-c", " ".join(shlex.quote(c) for c in cmd)]
    return cmd


def main():
    bindir = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]
    tmp = tempfile.mkdtemp(prefix="ember-record-")
    os.chmod(tmp, 0o777)
    data, log, port = os.path.join(tmp, "data"), os.path.join(tmp, "pg.log"), free_port()
    subprocess.run(as_postgres([f"{bindir}/initdb", "-D", data, "-A", "trust", "-U", "postgres"]), check=True, capture_output=True)
    opts = f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c log_statement=all -c 'log_line_prefix=%a|'"
    subprocess.run(as_postgres([f"{bindir}/pg_ctl", "-D", data, "-o", opts, "-l", log, "-w", "start"]), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        psql = ["psql", "-X", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", "postgres"]
        subprocess.run(psql + ["-q", "-c", LINEITEM], check=True, env={**os.environ, "PGAPPNAME": "setup"})
        for command in PSQL_COMMANDS:
            subprocess.run(psql + ["-c", command], check=True, capture_output=True, env={**os.environ, "PGAPPNAME": "psql"})
        tab_completion(port)
        jar = "/usr/share/java/postgresql.jar"
        if shutil.which("javac") and os.path.exists(jar):
            with open(os.path.join(tmp, "Meta.java"), "w") as f:
                f.write(JAVA)
            subprocess.run(["javac", "Meta.java"], cwd=tmp, check=True)
            url = f"jdbc:postgresql://127.0.0.1:{port}/postgres?ApplicationName=pgjdbc"
            subprocess.run(["java", "-cp", f"{jar}:.", "Meta", url], cwd=tmp, check=True)
        subprocess.run([VENV_PY, "-c", PYTHON, str(port)], check=True)
        subprocess.run([VENV_PY, "-c", PGCLI, str(port)], check=True)
        if os.path.exists(DBT):
            record_dbt(port, tmp, psql)
        if os.path.exists(SUPERSET_PY):
            url = f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres?application_name=superset"
            script = os.path.join(ROOT, "tests", "clients", "superset", "introspect.py")
            subprocess.run([SUPERSET_PY, script, url, "lineitem", "v_lineitem_count"], check=True,
                           stdout=subprocess.DEVNULL, env={**os.environ, "SUPERSET_HOME": tmp})
    finally:
        subprocess.run(as_postgres([f"{bindir}/pg_ctl", "-D", data, "-m", "fast", "stop"]), capture_output=True)
    write(parse_log(log))
    shutil.rmtree(tmp, ignore_errors=True)


def record_dbt(port, tmp, psql):
    """`dbt run` twice of tests/clients/dbt over a copy of employees.csv."""
    csv = os.path.join(ROOT, "sql-tests", "data", "employees.csv")
    ddl = ("CREATE TABLE dbt_employees (emp_id bigint, name text, dept_id bigint, salary float8, hired date, "
           "manager_id bigint, active bool)")
    subprocess.run(psql + ["-q", "-c", ddl, "-c", f"\\copy dbt_employees from '{csv}' csv header"], check=True,
                   env={**os.environ, "PGAPPNAME": "setup"})
    project = os.path.join(tmp, "dbt")
    shutil.copytree(os.path.join(ROOT, "tests", "clients", "dbt"), project)
    with open(os.path.join(project, "profiles.yml"), "w") as f:
        f.write(DBT_PROFILE.format(port=port))
    env = {**os.environ, "DBT_PROFILES_DIR": project, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    for command in (["debug"], ["run"], ["run"]):
        subprocess.run([DBT, *command], cwd=project, env=env, check=True, stdout=subprocess.DEVNULL)


def is_catalog_query(sql):
    body = re.sub(r"/\*.*?\*/", "", sql, flags=re.S).strip().lower()
    return body.startswith(("select", "with")) and re.search(r"\bpg_|information_schema|current_|version\(", body)


ENTRY = re.compile(r"^([A-Za-z_\[\]]*)\|(LOG|DETAIL|ERROR|STATEMENT|HINT|WARNING):  (.*)$")


def parse_log(path):
    """(client, sql, params) for every statement the clients sent."""
    entries, current = [], None
    for line in open(path, encoding="utf-8"):
        m = ENTRY.match(line.rstrip("\n"))
        if not m:
            if current is not None:
                # PostgreSQL indents continuation lines of a logged statement with a tab.
                text = line.rstrip("\n")
                current[1] += "\n" + (text[1:] if text.startswith("\t") else text)
            continue
        app, kind, text = m.groups()
        if kind == "DETAIL" and text.startswith("parameters: ") and entries:
            entries[-1][2] = text[len("parameters: "):]
            current = None
            continue
        current = None
        s = re.match(r"(?:statement|execute [^:]*): (.*)$", text) if kind == "LOG" else None
        if s and app in CLIENTS:
            current = [app, s.group(1), None]
            entries.append(current)
    return [(a, sql.strip(), p) for a, sql, p in entries
            if sql.strip() and (a not in CATALOG_ONLY or is_catalog_query(sql))]


def write(entries):
    by_client = {}
    for client, sql, params in entries:
        queries = by_client.setdefault(client, [])
        # dbt and Superset open many connections, each with the same preamble.
        if client in CATALOG_ONLY and (sql, params) in queries:
            continue
        queries.append((sql, params))
    for client, queries in by_client.items():
        with open(os.path.join(OUT, f"{client}.sql"), "w") as f:
            f.write(f"-- Recorded from {client} against PostgreSQL by sql-tests/tools/record_introspection.py.\n")
            f.write("-- Replayed against Ember by server/tests/it/introspection.rs; do not edit by hand.\n")
            for sql, params in queries:
                f.write("\n-- @query\n")
                if params:
                    f.write(f"-- @params {params}\n")
                f.write(sql.rstrip().rstrip(";") + ";\n")
        print(f"{client}: {len(queries)} statements", file=sys.stderr)


if __name__ == "__main__":
    main()

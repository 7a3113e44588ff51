"""Password authentication and TLS with drivers that implement SCRAM / md5 / TLS
themselves (asyncpg, pg8000, node-postgres, pgjdbc) or through libpq (psycopg)."""

import asyncio
import os
import pathlib
import ssl
import subprocess

import asyncpg
import pg8000.native
import psycopg
import pytest

from conftest import start_ember

USERS = "# client-suite users\nalice:wonder land\nbob:b:u:i:l:d\n"


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    crt, key = d / "server.crt", d / "server.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(crt)],
        check=True, capture_output=True, timeout=60,
    )
    return crt, key


def server(tmp_path_factory, *flags):
    tmp = tmp_path_factory.mktemp("ember-auth")
    users = tmp / "users"
    users.write_text(USERS)
    users.chmod(0o600)
    proc, ember = start_ember(tmp, ["--auth", "password", "--users-file", str(users), *flags])
    return proc, ember


@pytest.fixture(scope="module")
def scram_tls(tmp_path_factory, cert):
    proc, ember = server(tmp_path_factory, "--tls-cert", str(cert[0]), "--tls-key", str(cert[1]), "--tls-required")
    yield ember
    proc.terminate()
    proc.wait(20)


@pytest.fixture(scope="module")
def md5(tmp_path_factory):
    proc, ember = server(tmp_path_factory, "--password-method", "md5")
    yield ember
    proc.terminate()
    proc.wait(20)


def verify_full(cert):
    ctx = ssl.create_default_context(cafile=str(cert[0]))
    ctx.check_hostname = True
    return ctx


def test_psycopg_scram_verify_full(scram_tls, cert):
    dsn = f"host=localhost port={scram_tls.port} dbname=ember sslmode=verify-full sslrootcert={cert[0]}"
    with psycopg.connect(dsn + " user=alice password='wonder land' channel_binding=require") as c:
        assert c.execute("SELECT 1").fetchone() == (1,)
        assert c.pgconn.ssl_in_use
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(dsn + " user=alice password=nope")
    with pytest.raises(psycopg.OperationalError, match="requires TLS"):
        psycopg.connect(f"host=127.0.0.1 port={scram_tls.port} dbname=ember user=alice password='wonder land' sslmode=disable")


def test_asyncpg_scram_tls(scram_tls, cert):
    async def scenario():
        conn = await asyncpg.connect(host="localhost", port=scram_tls.port, user="bob", password="b:u:i:l:d",
                                     database="ember", ssl=verify_full(cert))
        try:
            assert await conn.fetchval("SELECT $1::int4 + 1", 1) == 2
        finally:
            await conn.close()
        with pytest.raises(asyncpg.InvalidPasswordError):
            await asyncpg.connect(host="localhost", port=scram_tls.port, user="bob", password="bob",
                                  database="ember", ssl=verify_full(cert))

    asyncio.run(scenario())


def test_pg8000_scram_tls(scram_tls, cert):
    c = pg8000.native.Connection("alice", password="wonder land", host="localhost", port=scram_tls.port,
                                 database="ember", ssl_context=verify_full(cert))
    assert c.run("SELECT 'ok'") == [["ok"]]
    c.close()
    with pytest.raises(pg8000.native.DatabaseError) as e:
        pg8000.native.Connection("mallory", password="x", host="localhost", port=scram_tls.port,
                                 database="ember", ssl_context=verify_full(cert))
    assert e.value.args[0]["C"] == "28P01"


def test_md5_drivers(md5):
    with psycopg.connect(f"host={md5.host} port={md5.port} dbname=ember user=alice password='wonder land'") as c:
        assert c.execute("SELECT 1").fetchone() == (1,)
    c = pg8000.native.Connection("bob", password="b:u:i:l:d", host=md5.host, port=md5.port, database="ember")
    assert c.run("SELECT 2") == [[2]]
    c.close()

    async def scenario():
        conn = await asyncpg.connect(host=md5.host, port=md5.port, user="alice", password="wonder land", database="ember")
        assert await conn.fetchval("SELECT 3") == 3
        await conn.close()
        with pytest.raises(asyncpg.InvalidPasswordError):
            await asyncpg.connect(host=md5.host, port=md5.port, user="alice", password="wonder", database="ember")

    asyncio.run(scenario())


def test_jdbc_scram_tls(scram_tls, cert, tmp_path):
    jar = pathlib.Path("/usr/share/java/postgresql.jar")
    if not jar.exists():
        pytest.skip("needs libpostgresql-jdbc-java")
    src = tmp_path / "Login.java"
    src.write_text(
        "import java.sql.*;\n"
        "public class Login { public static void main(String[] a) throws Exception {\n"
        "  try (Connection c = DriverManager.getConnection(a[0]); Statement s = c.createStatement();\n"
        "       ResultSet rs = s.executeQuery(\"SELECT 'jdbc ok'\")) { rs.next(); System.out.println(rs.getString(1)); }\n"
        "  catch (SQLException e) { System.out.println(\"sqlstate \" + e.getSQLState()); } } }\n"
    )
    subprocess.run(["javac", "-d", str(tmp_path), str(src)], check=True, capture_output=True, timeout=300)
    base = f"jdbc:postgresql://localhost:{scram_tls.port}/ember?sslmode=verify-full&sslrootcert={cert[0]}&user=alice"
    for password, expected in [("wonder%20land", "jdbc ok"), ("nope", "sqlstate 28P01")]:
        out = subprocess.run(["java", "-cp", f"{jar}:{tmp_path}", "Login", f"{base}&password={password}"],
                             capture_output=True, text=True, timeout=120)
        assert out.stdout.strip() == expected, out.stdout + out.stderr


def test_node_scram_tls(scram_tls, cert):
    node_dir = pathlib.Path(__file__).parent / "node"
    if not os.environ.get("CI") and not (node_dir / "node_modules" / "pg").exists():
        pytest.skip("needs npm ci in tests/clients/node")
    script = (
        "const fs = require('fs'); const { Client } = require('pg');\n"
        "(async () => { for (const password of ['wonder land', 'nope']) {\n"
        f"  const c = new Client({{ host: 'localhost', port: {scram_tls.port}, user: 'alice', password, database: 'ember',\n"
        f"    ssl: {{ ca: fs.readFileSync('{cert[0]}'), rejectUnauthorized: true }} }});\n"
        "  try { await c.connect(); console.log((await c.query(\"SELECT 'node ok' AS x\")).rows[0].x); await c.end(); }\n"
        "  catch (e) { console.log('sqlstate ' + e.code); } } })();\n"
    )
    out = subprocess.run(["node", "-e", script], cwd=node_dir, capture_output=True, text=True, timeout=120)
    assert out.stdout.split("\n")[:2] == ["node ok", "sqlstate 28P01"], out.stdout + out.stderr

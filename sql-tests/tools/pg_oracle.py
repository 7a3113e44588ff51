#!/usr/bin/env python3
"""Fill in the expected results of sqllogictest files using PostgreSQL as the oracle.

Usage:
    python3 sql-tests/tools/pg_oracle.py [options] FILE.slt [FILE.slt ...]

Options:
    --host HOST      PostgreSQL host (default 127.0.0.1, or $PGHOST)
    --port PORT      PostgreSQL port (default 5432, or $PGPORT)
    --user USER      PostgreSQL user (default postgres, or $PGUSER)
    --check          do not rewrite anything; report records whose expected output
                     differs from PostgreSQL's answer (exit status 1 if any)
    --record         PostgreSQL decides which records succeed: a query or statement
                     that fails there becomes `query error (SQLSTATE)` /
                     `statement error (SQLSTATE)` with its SQLSTATE, an error record
                     that succeeds becomes `query` / `statement ok`. Used for the
                     differential corpus (sql-tests/postgres/), whose values are
                     compared exactly: whitespace is kept, a newline inside a value
                     is written as the two characters \\n.

The server must accept the user without a password (trust authentication; md5 and
cleartext passwords from $PGPASSWORD also work). No Python packages are needed: the
script speaks the PostgreSQL wire protocol itself. A throwaway server, for example:

    mkdir -p /tmp/pgoracle && chown postgres /tmp/pgoracle
    su postgres -c "/usr/lib/postgresql/15/bin/initdb -D /tmp/pgoracle/data \\
        --no-locale -E UTF8 -A trust -U postgres"
    su postgres -c "/usr/lib/postgresql/15/bin/pg_ctl -D /tmp/pgoracle/data \\
        -o '-p 54329 -k /tmp/pgoracle -c listen_addresses=127.0.0.1' -l /tmp/pgoracle/log start"
    python3 sql-tests/tools/pg_oracle.py --port 54329 sql-tests/joins.slt
    su postgres -c "/usr/lib/postgresql/15/bin/pg_ctl -D /tmp/pgoracle/data stop"

For each file the script creates a scratch database `ember_oracle_<pid>` with the C
collation (byte order, as DataFusion compares strings) and TimeZone UTC, then walks
the records in order:

  * `statement ok` with `CREATE EXTERNAL TABLE name (col TYPE, ...) STORED AS CSV|JSON
    LOCATION 'path' [OPTIONS (...)]` (Ember / DataFusion syntax) becomes a PostgreSQL
    `CREATE TABLE` with the mapped column types, loaded from the file. Relative paths
    are resolved against the .slt file's directory (Ember serves the tests with that
    working directory). CSV: `'format.has_header' 'true'` skips the header line, and an
    empty field is NULL. JSON: newline-delimited objects, missing keys / null are NULL.
  * other `statement ok` records run as they are; a failure is reported.
  * `statement error (SQLSTATE)` / `query error (SQLSTATE)` records must fail in
    PostgreSQL; a different SQLSTATE is reported (other error patterns only need an
    error).
  * `query` records are run and their expected output is replaced: one row per line,
    columns separated by one space, NULL as `NULL`, the empty string as `(empty)`,
    values as PostgreSQL's text output (booleans `t`/`f`, floats as psql prints them).
    The header's type string is recomputed from the result columns: I for integer
    types, R for float4/float8/numeric, T for everything else. A sort mode given in the
    header (rowsort / valuesort / nosort) and any label are kept; a query without any
    ORDER BY and without a sort mode gets `rowsort` when it returns several rows.
    Sorted output is written in the order the sqllogictest runner sorts (rows
    compared as lists of rendered strings).
  * a record preceded by `skipif postgres` is left exactly as written (use it for
    answers that are deliberately not PostgreSQL's); everything else (comments,
    conditions, blank lines) is kept verbatim.
"""

import argparse
import csv
import hashlib
import io
import json
import os
import re
import socket
import struct
import sys

INT_OIDS = {20, 21, 23, 26}  # int8, int2, int4, oid
FLOAT_OIDS = {700, 701, 1700}  # float4, float8, numeric
# One scratch database per run, so several runs can share one PostgreSQL server.
SCRATCH_DB = f"ember_oracle_{os.getpid()}"

TYPE_MAP = {
    "BIGINT": "bigint",
    "INT8": "bigint",
    "INT": "integer",
    "INTEGER": "integer",
    "INT4": "integer",
    "SMALLINT": "smallint",
    "VARCHAR": "text",
    "TEXT": "text",
    "STRING": "text",
    "CHAR": "text",
    "DOUBLE": "double precision",
    "DOUBLE PRECISION": "double precision",
    "FLOAT8": "double precision",
    "FLOAT": "real",
    "REAL": "real",
    "FLOAT4": "real",
    "DATE": "date",
    "BOOLEAN": "boolean",
    "BOOL": "boolean",
    "TIMESTAMP": "timestamp",
    "TIMESTAMPTZ": "timestamptz",
}


class PgError(Exception):
    def __init__(self, fields):
        self.sqlstate = fields.get("C", "")
        self.message = fields.get("M", "")
        super().__init__(f"{self.sqlstate}: {self.message}")


class Conn:
    """A minimal PostgreSQL v3 protocol client: simple queries and COPY FROM STDIN."""

    def __init__(self, host, port, user, dbname):
        self.sock = socket.create_connection((host, port))
        self.buf = b""
        params = b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in [
            ("user", user), ("database", dbname), ("client_encoding", "UTF8"),
            ("DateStyle", "ISO, MDY"), ("TimeZone", "UTC"), ("extra_float_digits", "1"),
        ]) + b"\0"
        body = struct.pack("!i", 196608) + params
        self.sock.sendall(struct.pack("!i", len(body) + 4) + body)
        while True:
            kind, payload = self._recv()
            if kind == b"R":
                code = struct.unpack("!i", payload[:4])[0]
                if code == 0:
                    continue
                password = os.environ.get("PGPASSWORD", "")
                if code == 3:
                    self._send(b"p", password.encode() + b"\0")
                elif code == 5:
                    salt = payload[4:8]
                    inner = hashlib.md5(password.encode() + user.encode()).hexdigest().encode()
                    self._send(b"p", b"md5" + hashlib.md5(inner + salt).hexdigest().encode() + b"\0")
                else:
                    raise SystemExit(f"unsupported authentication method {code} (use trust, md5 or password)")
            elif kind == b"E":
                raise PgError(parse_fields(payload))
            elif kind == b"Z":
                return

    def _send(self, kind, payload):
        self.sock.sendall(kind + struct.pack("!i", len(payload) + 4) + payload)

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise SystemExit("connection closed by server")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _recv(self):
        head = self._read(5)
        length = struct.unpack("!i", head[1:5])[0]
        return head[:1], self._read(length - 4)

    def query(self, sql, copy_data=None):
        """Run one simple query; return (column type oids, rows of str|None) or raise PgError."""
        self._send(b"Q", sql.encode() + b"\0")
        oids, rows, error = None, [], None
        while True:
            kind, payload = self._recv()
            if kind == b"T":
                oids = parse_row_description(payload)
                rows = []
            elif kind == b"D":
                rows.append(parse_data_row(payload))
            elif kind == b"E":
                error = error or PgError(parse_fields(payload))
            elif kind == b"G":
                self._send(b"d", copy_data or b"")
                self._send(b"c", b"")
            elif kind == b"Z":
                if error:
                    raise error
                return oids, rows

    def close(self):
        try:
            self._send(b"X", b"")
        finally:
            self.sock.close()


def parse_fields(payload):
    fields = {}
    for part in payload.split(b"\0"):
        if part:
            fields[chr(part[0])] = part[1:].decode(errors="replace")
    return fields


def parse_row_description(payload):
    count = struct.unpack("!h", payload[:2])[0]
    pos, oids = 2, []
    for _ in range(count):
        end = payload.index(b"\0", pos)
        pos = end + 1
        _table, _attnum, oid, _size, _mod, _fmt = struct.unpack("!ihihih", payload[pos:pos + 18])
        pos += 18
        oids.append(oid)
    return oids


def parse_data_row(payload):
    count = struct.unpack("!h", payload[:2])[0]
    pos, values = 2, []
    for _ in range(count):
        length = struct.unpack("!i", payload[pos:pos + 4])[0]
        pos += 4
        if length < 0:
            values.append(None)
        else:
            values.append(payload[pos:pos + length].decode())
            pos += length
    return values


# ---------------------------------------------------------------------------------------
# CREATE EXTERNAL TABLE translation

EXTERNAL_RE = re.compile(
    r"^\s*CREATE\s+EXTERNAL\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?([\w.\"]+)\s*\((.*)\)\s*"
    r"STORED\s+AS\s+(\w+)\s+(?:.*?\s)?LOCATION\s+'([^']*)'(.*)$",
    re.IGNORECASE | re.DOTALL,
)


def split_top_level(text):
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return [p.strip() for p in parts]


def external_table(conn, sql, base_dir):
    m = EXTERNAL_RE.match(sql)
    if not m:
        raise SystemExit(f"cannot translate external table statement:\n{sql}")
    name, cols_text, fmt, location, rest = m.groups()
    columns = []
    for col in split_top_level(cols_text):
        col_name, col_type = col.split(None, 1)
        pg_type = TYPE_MAP.get(re.sub(r"\s+", " ", col_type.strip().upper()))
        if pg_type is None:
            raise SystemExit(f"no PostgreSQL type for {col_type!r} in:\n{sql}")
        columns.append((col_name, pg_type))
    path = location if os.path.isabs(location) else os.path.join(base_dir, location)
    conn.query(f"DROP TABLE IF EXISTS {name}")
    conn.query(f"CREATE TABLE {name} (" + ", ".join(f"{c} {t}" for c, t in columns) + ")")
    fmt = fmt.upper()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if fmt == "CSV":
        has_header = re.search(r"'format\.has_header'\s+'true'", rest, re.IGNORECASE) is not None
        with open(path, newline="") as f:
            reader = csv.reader(f)
            if has_header:
                next(reader, None)
            for row in reader:
                writer.writerow(row)  # empty fields are written unquoted: NULL
    elif fmt in ("JSON", "NDJSON"):
        with open(path) as f:
            for line in f:
                if not line.strip():
                    continue
                obj = json.loads(line)
                row = []
                for col, _ in columns:
                    value = obj.get(col.strip('"'))
                    if value is None:
                        row.append("")
                    elif isinstance(value, bool):
                        row.append("true" if value else "false")
                    else:
                        row.append(str(value))
                writer.writerow(row)
    else:
        raise SystemExit(f"unsupported STORED AS {fmt} in:\n{sql}")
    conn.query(f"COPY {name} FROM STDIN (FORMAT csv)", copy_data=out.getvalue().encode())


# ---------------------------------------------------------------------------------------
# .slt handling

SQLSTATE_RE = re.compile(r"\(([0-9A-Z]{5})\)\s*$")
SORT_MODES = {"rowsort", "valuesort", "nosort"}


def render(value):
    if value is None:
        return "NULL"
    if value == "":
        return "(empty)"
    return value.replace("\n", "\\n")


def type_letter(oid):
    if oid in INT_OIDS:
        return "I"
    if oid in FLOAT_OIDS:
        return "R"
    return "T"


def run_error(conn, sql, header, where):
    """Check that an error record fails; returns a problem string or None."""
    m = SQLSTATE_RE.search(header)
    try:
        conn.query(sql)
    except PgError as e:
        if m and m.group(1) != e.sqlstate:
            return f"{where}: expected SQLSTATE {m.group(1)}, PostgreSQL gave {e.sqlstate} ({e.message})"
        return None
    return f"{where}: expected an error, PostgreSQL succeeded"


def error_header(kind, sqlstate, labels=()):
    return " ".join([kind, f"error ({sqlstate})"] + list(labels))


def process(path, conn, check, record=False):
    base_dir = os.path.dirname(os.path.abspath(path))
    with open(path) as f:
        lines = f.read().split("\n")
    out, problems = [], []
    i, n = 0, len(lines)
    skip_next = False
    while i < n:
        line = lines[i]
        stripped = line.strip()
        where = f"{path}:{i + 1}"
        if stripped.startswith("skipif postgres"):
            skip_next = True
            out.append(line)
            i += 1
            continue
        if stripped.startswith("statement ") or stripped.startswith("query "):
            start = i
            header = stripped
            i += 1
            sql_lines = []
            while i < n and lines[i].strip() != "" and lines[i].strip() != "----":
                sql_lines.append(lines[i])
                i += 1
            sql = "\n".join(sql_lines)
            has_results = i < n and lines[i].strip() == "----"
            expected = []
            if has_results:
                i += 1
                while i < n and lines[i].strip() != "":
                    expected.append(lines[i])
                    i += 1
            if skip_next:
                skip_next = False
                out.extend(lines[start:i])
                continue
            tokens = header.split()
            if record and tokens[0] == "statement":
                try:
                    if re.match(r"\s*CREATE\s+EXTERNAL\s+TABLE", sql, re.IGNORECASE):
                        external_table(conn, sql, base_dir)
                    else:
                        conn.query(sql)
                    out.append("statement ok")
                except PgError as e:
                    out.append(error_header("statement", e.sqlstate))
                out.extend(sql_lines)
                continue
            if tokens[0] == "statement":
                if tokens[1] == "ok":
                    try:
                        if re.match(r"\s*CREATE\s+EXTERNAL\s+TABLE", sql, re.IGNORECASE):
                            external_table(conn, sql, base_dir)
                        else:
                            conn.query(sql)
                    except PgError as e:
                        problems.append(f"{where}: statement failed in PostgreSQL: {e}")
                elif tokens[1] == "error":
                    p = run_error(conn, sql, header, where)
                    if p:
                        problems.append(p)
                else:  # statement count N
                    try:
                        conn.query(sql)
                    except PgError as e:
                        problems.append(f"{where}: statement failed in PostgreSQL: {e}")
                out.extend(lines[start:i])
                continue
            # query record
            if record and len(tokens) > 1 and tokens[1] == "error":
                tokens = ["query", "T"]  # PostgreSQL decides below
            if len(tokens) > 1 and tokens[1] == "error":
                p = run_error(conn, sql, header, where)
                if p:
                    problems.append(p)
                out.extend(lines[start:i])
                continue
            rest = tokens[2:]
            sort_mode = next((t for t in rest if t in SORT_MODES), None)
            labels = [t for t in rest if t not in SORT_MODES]
            try:
                oids, rows = conn.query(sql)
            except PgError as e:
                if record:
                    out.append(error_header("query", e.sqlstate, labels))
                    out.extend(sql_lines)
                    continue
                problems.append(f"{where}: query failed in PostgreSQL: {e}")
                out.extend(lines[start:i])
                continue
            if oids is None:
                problems.append(f"{where}: query returned no result set")
                out.extend(lines[start:i])
                continue
            if sort_mode is None and len(rows) > 1 and not re.search(r"\border\s+by\b", sql, re.IGNORECASE):
                sort_mode = "rowsort"
                problems.append(f"{where}: no ORDER BY, added rowsort")
            rendered = [[render(v) for v in row] for row in rows]
            for row in rendered:
                for v in row:
                    if not record and v != " ".join(v.split()):
                        problems.append(f"{where}: value {v!r} has whitespace the runner normalizes")
            if sort_mode == "rowsort":
                rendered.sort()
            elif sort_mode == "valuesort":
                rendered = sorted([v] for row in rendered for v in row)
            result_lines = [" ".join(row) for row in rendered]
            new_header = " ".join(["query", "".join(type_letter(o) for o in oids)]
                                  + ([sort_mode] if sort_mode else []) + labels)
            if check:
                norm = lambda ls: [" ".join(l.split()) for l in ls]
                if norm(expected) != norm(result_lines) or not has_results:
                    problems.append(f"{where}: expected output differs from PostgreSQL:\n  "
                                    + "\n  ".join(result_lines[:20]))
                out.extend(lines[start:i])
            else:
                out.append(new_header)
                out.extend(sql_lines)
                out.append("----")
                out.extend(result_lines)
            continue
        out.append(line)
        i += 1
    if not check:
        with open(path, "w") as f:
            f.write("\n".join(out))
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--host", default=os.environ.get("PGHOST", "127.0.0.1"))
    ap.add_argument("--port", type=int, default=int(os.environ.get("PGPORT", "5432")))
    ap.add_argument("--user", default=os.environ.get("PGUSER", "postgres"))
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--record", action="store_true")
    args = ap.parse_args()
    failed = False
    for path in args.files:
        admin = Conn(args.host, args.port, args.user, "postgres")
        admin.query(f"DROP DATABASE IF EXISTS {SCRATCH_DB}")
        admin.query(f"CREATE DATABASE {SCRATCH_DB} TEMPLATE template0 ENCODING 'UTF8' "
                    "LC_COLLATE 'C' LC_CTYPE 'C'")
        admin.close()
        conn = Conn(args.host, args.port, args.user, SCRATCH_DB)
        try:
            problems = process(path, conn, args.check, args.record)
        finally:
            conn.close()
            admin = Conn(args.host, args.port, args.user, "postgres")
            admin.query(f"DROP DATABASE IF EXISTS {SCRATCH_DB}")
            admin.close()
        records = sum(1 for l in open(path) if re.match(r"^(statement|query) ", l))
        print(f"{path}: {records} records, {len(problems)} note(s)")
        for p in problems:
            print("  " + p)
            if "added rowsort" not in p:
                failed = True
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

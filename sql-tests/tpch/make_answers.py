#!/usr/bin/env python3
"""Generate reference answers for the TPC-H queries with DuckDB.

Usage:
    python3 make_answers.py --data DIR [--out DIR] [--queries DIR] [--only 1,6,22]

    --data DIR     directory holding one Parquet file (or a directory of Parquet
                   files) per TPC-H table: DIR/lineitem.parquet, DIR/orders.parquet,
                   DIR/customer.parquet, DIR/part.parquet, DIR/partsupp.parquet,
                   DIR/supplier.parquet, DIR/nation.parquet, DIR/region.parquet
    --out DIR      where to write qN.csv (default: the `answers` folder next to
                   this script)
    --queries DIR  where qN.sql live (default: the `queries` folder next to this
                   script)
    --only LIST    comma-separated query numbers to run (default: all 22)

Requires the `duckdb` Python package (pip install duckdb).

For each queries/qN.sql it creates views over the Parquet files
(CREATE VIEW lineitem AS SELECT * FROM read_parquet('DIR/lineitem.parquet')),
runs the query and writes answers/qN.csv with the csv module:
  - a header line with the result column names,
  - one line per row, comma separated, values rendered as
      NULL              -> empty field
      float / Decimal   -> repr(float(value))
      int / bool        -> int
      date              -> YYYY-MM-DD
      datetime          -> ISO format (YYYY-MM-DD HH:MM:SS[.ffffff])
      string            -> trailing spaces stripped (quoted by csv when needed)
It prints the number of rows for each query.

A tiny data set for testing can be made with DuckDB itself:
    import duckdb
    con = duckdb.connect()
    con.execute("INSTALL tpch; LOAD tpch; CALL dbgen(sf=0.01)")
    for t in ["lineitem", "orders", "customer", "part", "partsupp",
              "supplier", "nation", "region"]:
        con.execute(f"COPY {t} TO '/tmp/tpch/{t}.parquet' (FORMAT parquet)")
"""

import argparse
import csv
import datetime
import decimal
import os
import sys
import time

TABLES = [
    "lineitem",
    "orders",
    "customer",
    "part",
    "partsupp",
    "supplier",
    "nation",
    "region",
]

HERE = os.path.dirname(os.path.abspath(__file__))


def parquet_source(data_dir, table):
    """Return the read_parquet() argument for a table: a file or a directory."""
    path = os.path.join(data_dir, f"{table}.parquet")
    if os.path.isdir(path):
        return os.path.join(path, "**", "*.parquet")
    if os.path.exists(path):
        return path
    # Also accept DIR/<table>/ holding parquet files.
    alt = os.path.join(data_dir, table)
    if os.path.isdir(alt):
        return os.path.join(alt, "**", "*.parquet")
    raise SystemExit(f"error: no parquet data for table {table!r} at {path}")


def sql_literal(s):
    return "'" + s.replace("'", "''") + "'"


def render(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (float, decimal.Decimal)):
        return repr(float(value))
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, datetime.date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, str):
        return value.rstrip(" ")
    return str(value).rstrip(" ")


def query_numbers(only):
    if not only:
        return list(range(1, 23))
    return [int(x) for x in only.split(",") if x.strip()]


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Run the TPC-H queries in DuckDB and write answers/qN.csv"
    )
    ap.add_argument("--data", required=True, help="directory with <table>.parquet")
    ap.add_argument("--out", default=os.path.join(HERE, "answers"))
    ap.add_argument("--queries", default=os.path.join(HERE, "queries"))
    ap.add_argument("--only", default="", help="comma-separated query numbers")
    args = ap.parse_args(argv)

    try:
        import duckdb
    except ImportError:
        raise SystemExit("error: the duckdb Python package is required (pip install duckdb)")

    data_dir = os.path.abspath(args.data)
    os.makedirs(args.out, exist_ok=True)

    con = duckdb.connect()
    for table in TABLES:
        src = parquet_source(data_dir, table)
        con.execute(
            f"CREATE VIEW {table} AS SELECT * FROM read_parquet({sql_literal(src)})"
        )

    failures = 0
    for n in query_numbers(args.only):
        qpath = os.path.join(args.queries, f"q{n}.sql")
        with open(qpath, encoding="utf-8") as f:
            sql = f.read().strip().rstrip(";")
        start = time.monotonic()
        try:
            cur = con.execute(sql)
            columns = [d[0] for d in cur.description]
            rows = cur.fetchall()
        except Exception as e:  # report and continue with the other queries
            failures += 1
            print(f"q{n}: ERROR {e}", file=sys.stderr)
            continue
        elapsed = time.monotonic() - start
        out_path = os.path.join(args.out, f"q{n}.csv")
        with open(out_path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(columns)
            for row in rows:
                w.writerow([render(v) for v in row])
        print(f"q{n}: {len(rows)} rows ({elapsed:.2f}s) -> {out_path}")

    if failures:
        print(f"{failures} queries failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

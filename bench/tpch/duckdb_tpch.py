"""Time TPC-H queries in DuckDB (1 warm-up + best of N), results fetched into Python.

Prints one line per query: the best time in seconds. Used by `ember-bench-tpch`.
Exits 2 when the duckdb package is not installed.
"""
import argparse
import pathlib
import sys
import time

try:
    import duckdb
except ImportError:
    sys.exit(2)

TABLES = ["nation", "region", "part", "supplier", "partsupp", "customer", "orders", "lineitem"]
QUERIES = pathlib.Path(__file__).resolve().parents[2] / "sql-tests" / "tpch" / "queries"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--queries", default=",".join(str(i) for i in range(1, 23)))
    parser.add_argument("--iterations", type=int, default=3)
    args = parser.parse_args()
    con = duckdb.connect()
    for t in TABLES:
        con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{args.data}/{t}/*.parquet')")
    for q in args.queries.split(","):
        sql = (QUERIES / f"q{q}.sql").read_text()
        times = []
        for _ in range(args.iterations + 1):
            start = time.perf_counter()
            con.execute(sql).fetchall()
            times.append(time.perf_counter() - start)
        print(f"{min(times[1:]):.6f}", flush=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""UDF throughput: SUM(f(x)) with f(x) = x * 2 + 1 over N int64 rows.

Runs, in one process and one run, Ember (scalar row-at-a-time and vectorized Python
functions, plus the same sum in plain SQL) and the baselines: the plain-Python limit
(`sum(map(f, range(N)))` in one process, and split over all cores), numpy, and — when
installed — DuckDB `create_function`, datafusion-python's in-process UDF and PySpark
local[cores] (row `udf` and `pandas_udf`). Prints rows/s and each one's ratio to Ember.

    python bench/udf/bench_udf.py --ember target/release/ember [--rows 10000000]
"""

import argparse
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def f(x):
    return x * 2 + 1


def best_of(runs, fn):
    """Warm up once, then the best wall time of `runs`."""
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def expected_sum(n):
    # sum over x = 0..n-1 of 2x + 1 = n^2
    return n * n


def make_data(directory, n):
    path = os.path.join(directory, "x.parquet")
    if not os.path.exists(path) or pq.ParquetFile(path).metadata.num_rows != n:
        table = pa.table({"x": pa.array(np.arange(n, dtype=np.int64))})
        pq.write_table(table, path, row_group_size=1 << 20)
    return path


def chunk_sum(bounds):
    lo, hi = bounds
    return sum(map(f, range(lo, hi)))


# ---------------------------------------------------------------- Ember


class Ember:
    def __init__(self, binary, data_dir, workers):
        env = dict(os.environ, EMBER_PYTHON=sys.executable, EMBER_LOG="warn,ember_server=info")
        args = [binary, "serve", "--port", "0", "--data-dir", data_dir]
        if workers:
            args += ["--udf-workers", str(workers)]
        self.proc = subprocess.Popen(args, env=env, stderr=subprocess.PIPE, text=True)
        port = None
        for line in self.proc.stderr:
            if "pgwire listening on" in line:
                port = line.split("pgwire listening on ")[1].split()[0].rsplit(":", 1)[1]
                break
        if port is None:
            raise RuntimeError("ember did not start")
        import threading

        threading.Thread(target=lambda: [None for _ in self.proc.stderr], daemon=True).start()
        import psycopg

        self.conn = psycopg.connect(f"host=127.0.0.1 port={port} user=bench dbname=ember", autocommit=True)

    def sql(self, text):
        with self.conn.cursor() as cur:
            cur.execute(text)
            return cur.fetchall() if cur.description else None

    def close(self):
        self.conn.close()
        self.proc.terminate()
        self.proc.wait(timeout=30)


def run_ember(binary, parquet, n, runs, workers):
    data_dir = tempfile.mkdtemp(prefix="ember-udf-bench-")
    ember = Ember(binary, data_dir, workers)
    try:
        ember.sql(f"CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '{parquet}'")
        ember.sql(
            "CREATE FUNCTION f(x bigint) RETURNS bigint LANGUAGE python IMMUTABLE AS $$\n"
            "def f(x):\n    return x * 2 + 1\n$$"
        )
        ember.sql(
            "CREATE FUNCTION vf(x bigint) RETURNS bigint LANGUAGE python IMMUTABLE WITH (vectorized) AS $$\n"
            "import pyarrow.compute as pc\n"
            "def vf(x):\n    return pc.add(pc.multiply(x, 2), 1)\n$$"
        )
        results = {}
        for name, query in [
            ("Ember plain SQL sum(x*2+1) (no Python)", "SELECT sum(x * 2 + 1) FROM t"),
            ("Ember scalar Python UDF", "SELECT sum(f(x)) FROM t"),
            ("Ember vectorized Python UDF (pyarrow)", "SELECT sum(vf(x)) FROM t"),
        ]:
            seconds, rows = best_of(runs, lambda: ember.sql(query))
            assert int(rows[0][0]) == expected_sum(n), (name, rows)
            results[name] = seconds
        return results
    finally:
        ember.close()
        shutil.rmtree(data_dir, ignore_errors=True)


# ---------------------------------------------------------------- baselines


def run_baselines(parquet, n, runs, cores):
    results = {}
    seconds, total = best_of(runs, lambda: sum(map(f, range(n))))
    assert total == expected_sum(n)
    results["plain Python sum(map(f, range(N))), 1 process"] = seconds
    step = (n + cores - 1) // cores
    bounds = [(i, min(n, i + step)) for i in range(0, n, step)]
    with multiprocessing.Pool(cores) as pool:
        seconds, total = best_of(runs, lambda: sum(pool.map(chunk_sum, bounds)))
    assert total == expected_sum(n)
    results[f"plain Python, {cores} processes"] = seconds
    array = pq.read_table(parquet).column("x").to_numpy()
    seconds, total = best_of(runs, lambda: int((array * 2 + 1).sum()))
    assert total == expected_sum(n)
    results["numpy (x*2+1).sum(), in memory"] = seconds

    try:
        import duckdb

        try:
            from duckdb.sqltypes import BIGINT
        except ImportError:  # duckdb < 1.4
            from duckdb.typing import BIGINT

        con = duckdb.connect()
        con.create_function("f", f, [BIGINT], BIGINT, type="native", side_effects=False)

        def vf(x):
            import pyarrow.compute as pc

            return pc.add(pc.multiply(x, 2), 1)

        con.create_function("vf", vf, [BIGINT], BIGINT, type="arrow", side_effects=False)
        for label, fn in [("f", "DuckDB create_function (native, row)"), ("vf", "DuckDB create_function (arrow)")]:
            seconds, rows = best_of(runs, lambda: con.sql(f"SELECT sum({label}(x)) FROM '{parquet}'").fetchall())
            assert int(rows[0][0]) == expected_sum(n)
            results[fn] = seconds
    except ImportError:
        print("(duckdb not installed: skipped)")

    try:
        import datafusion
        import pyarrow.compute as pc

        ctx = datafusion.SessionContext()
        ctx.register_parquet("t", parquet)
        vudf = datafusion.udf(lambda x: pc.add(pc.multiply(x, 2), 1), [pa.int64()], pa.int64(), "immutable", name="vf")
        ctx.register_udf(vudf)
        seconds, rows = best_of(runs, lambda: ctx.sql("SELECT sum(vf(x)) FROM t").to_pylist())
        assert int(list(rows[0].values())[0]) == expected_sum(n)
        results["datafusion-python vectorized UDF (in-process)"] = seconds
    except ImportError:
        print("(datafusion-python not installed: skipped)")

    if os.environ.get("EMBER_BENCH_SPARK", "1") != "0":
        try:
            results.update(run_spark(parquet, n, runs, cores))
        except ImportError:
            print("(pyspark not installed: skipped)")
        except Exception as e:  # noqa: BLE001 - Spark needs Java; report and go on
            print(f"(pyspark failed: {e})")
    return results


def run_spark(parquet, n, runs, cores):
    import pandas as pd
    from pyspark.sql import SparkSession
    from pyspark.sql.functions import pandas_udf, udf
    from pyspark.sql.functions import sum as spark_sum

    # Spark's Python workers must be this interpreter (it has pyarrow and pandas).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    spark = (
        SparkSession.builder.master(f"local[{cores}]")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    try:
        df = spark.read.parquet(parquet)
        row_udf = udf(f, "bigint")

        @pandas_udf("bigint")
        def vec_udf(x: pd.Series) -> pd.Series:
            return x * 2 + 1

        out = {}
        for name, column in [("PySpark 4 row udf", row_udf), ("PySpark 4 pandas_udf", vec_udf)]:
            seconds, rows = best_of(runs, lambda: df.agg(spark_sum(column("x"))).collect())
            assert int(rows[0][0]) == expected_sum(n)
            out[f"{name}, local[{cores}]"] = seconds
        return out
    finally:
        spark.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ember", required=True, help="path to the ember binary (release build for real numbers)")
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=3, help="timed runs after one warm-up; the best counts")
    parser.add_argument("--workers", type=int, default=0, help="Ember --udf-workers (default: cores)")
    parser.add_argument("--no-baselines", action="store_true", help="only Ember (CI smoke)")
    parser.add_argument("--data-dir", default=os.path.join(tempfile.gettempdir(), "ember-udf-bench-data"))
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    os.makedirs(args.data_dir, exist_ok=True)
    parquet = make_data(args.data_dir, args.rows)
    n = args.rows

    results = run_ember(args.ember, parquet, n, args.runs, args.workers)
    if not args.no_baselines:
        results.update(run_baselines(parquet, n, args.runs, cores))

    reference = results["Ember scalar Python UDF"]
    print(f"\nSUM(f(x)), f(x) = x * 2 + 1, {n:,} int64 rows, {cores} cores; best of {args.runs} after a warm-up")
    print(f"{'':54} {'seconds':>8} {'M rows/s':>9} {'vs Ember scalar':>16}")
    for name, seconds in results.items():
        print(f"{name:54} {seconds:8.3f} {n / seconds / 1e6:9.1f} {reference / seconds:15.2f}x")


if __name__ == "__main__":
    main()

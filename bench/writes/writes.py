#!/usr/bin/env python3
"""Writes to managed tables against PostgreSQL 15, in the same run on the same machine:

  copy        COPY lineitem FROM STDIN (CSV, TPC-H lineitem's 16 columns, --rows rows)
  executemany psycopg executemany of --inserts single-row INSERTs in one transaction

Prints each side's time and rate and the ratio (Ember / PostgreSQL for time). Starts its
own PostgreSQL 15 cluster (Debian `postgresql`; run as root) and the `ember` binary given,
each on a free loopback port, and removes both. Release builds only: a debug `ember`
measures the compiler.

    /work/.venv-ember/bin/python bench/writes/writes.py --ember target/release/ember [--rows 6000000]
"""

import argparse
import datetime as dt
import io
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time

import psycopg

PGBIN = os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin")

LINEITEM = """CREATE TABLE lineitem (
    l_orderkey bigint NOT NULL, l_partkey bigint NOT NULL, l_suppkey bigint NOT NULL,
    l_linenumber integer NOT NULL, l_quantity numeric(15,2) NOT NULL,
    l_extendedprice numeric(15,2) NOT NULL, l_discount numeric(15,2) NOT NULL,
    l_tax numeric(15,2) NOT NULL, l_returnflag text NOT NULL, l_linestatus text NOT NULL,
    l_shipdate date NOT NULL, l_commitdate date NOT NULL, l_receiptdate date NOT NULL,
    l_shipinstruct varchar(25) NOT NULL, l_shipmode varchar(10) NOT NULL,
    l_comment varchar(44) NOT NULL)"""

WORDS = "furiously regular deposits sleep quickly final accounts haggle carefully ironic packages".split()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lineitem_csv(path, rows, seed=7):
    """lineitem-shaped rows (TPC-H's columns, value ranges and text lengths), deterministic."""
    rng = random.Random(seed)
    base = dt.date(1992, 1, 1)
    modes = ["AIR", "MAIL", "SHIP", "TRUCK", "RAIL", "FOB", "REG AIR"]
    instructs = ["DELIVER IN PERSON", "COLLECT COD", "NONE", "TAKE BACK RETURN"]
    with open(path, "w") as f:
        for i in range(rows):
            ship = base + dt.timedelta(days=rng.randrange(2500))
            comment = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(2, 5)))[:44]
            f.write(
                f"{i // 4 + 1},{rng.randrange(1, 200000)},{rng.randrange(1, 10000)},{i % 4 + 1},"
                f"{rng.randrange(1, 51)}.00,{rng.randrange(90000, 10500000) / 100:.2f},0.0{rng.randrange(10)},"
                f"0.0{rng.randrange(9)},{rng.choice('RAN')},{rng.choice('OF')},{ship},"
                f"{ship + dt.timedelta(days=rng.randrange(30, 90))},{ship + dt.timedelta(days=rng.randrange(1, 30))},"
                f"{rng.choice(instructs)},{rng.choice(modes)},{comment}\n"
            )


def copy_rows(dsn, path):
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS lineitem")
        conn.execute(LINEITEM)
        start = time.perf_counter()
        with conn.cursor().copy("COPY lineitem FROM STDIN WITH (FORMAT csv)") as copy, open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                copy.write(chunk)
        elapsed = time.perf_counter() - start
        count = conn.execute("SELECT count(*) FROM lineitem").fetchone()[0]
        conn.execute("DROP TABLE lineitem")
    return elapsed, count


def executemany(dsn, n):
    with psycopg.connect(dsn) as conn:
        conn.execute("DROP TABLE IF EXISTS items")
        conn.execute("CREATE TABLE items (id integer NOT NULL, name text, price double precision)")
        conn.commit()
        rows = [(i, f"item {i}", i * 0.25) for i in range(n)]
        start = time.perf_counter()
        conn.cursor().executemany("INSERT INTO items VALUES (%s, %s, %s)", rows)
        conn.commit()
        elapsed = time.perf_counter() - start
        count = conn.execute("SELECT count(*) FROM items").fetchone()[0]
        conn.execute("DROP TABLE items")
        conn.commit()
    return elapsed, count


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ember", required=True, help="the ember binary (a release build)")
    parser.add_argument("--rows", type=int, default=600_000, help="lineitem rows to COPY (SF1 is 6,001,215)")
    parser.add_argument("--inserts", type=int, default=10_000, help="single-row INSERTs in one transaction")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="ember-writes-")
    os.chmod(work, 0o755)
    procs = []
    pg_data = os.path.join(work, "pg")
    try:
        csv = os.path.join(work, "lineitem.csv")
        lineitem_csv(csv, args.rows)
        os.makedirs(pg_data)
        shutil.chown(pg_data, "postgres")
        pg_port = free_port()
        subprocess.run(["su", "postgres", "-c", f"{PGBIN}/initdb -D {pg_data} -A trust -U postgres --no-locale -E UTF8"], check=True, capture_output=True)
        subprocess.run(["su", "postgres", "-c", f"{PGBIN}/pg_ctl -D {pg_data} -o '-p {pg_port} -k {pg_data} -c listen_addresses=127.0.0.1' -l {pg_data}/log -w start"], check=True, capture_output=True)
        ember_port = free_port()
        log = open(os.path.join(work, "ember.log"), "w")
        procs.append(subprocess.Popen([args.ember, "serve", "--port", str(ember_port), "--data-dir", os.path.join(work, "ember")], stderr=log))
        sides = {
            "postgres": f"host=127.0.0.1 port={pg_port} user=postgres dbname=postgres",
            "ember": f"host=127.0.0.1 port={ember_port} user=ember dbname=ember",
        }
        for _ in range(100):
            try:
                psycopg.connect(sides["ember"]).close()
                break
            except psycopg.OperationalError:
                time.sleep(0.2)
        results = {}
        for name, dsn in sides.items():
            results[name, "copy"] = copy_rows(dsn, csv)
            results[name, "executemany"] = executemany(dsn, args.inserts)
        print(f"writes, {os.cpu_count()} cores, same run")
        for bench, unit, size in [("copy", "rows/s", args.rows), ("executemany", "rows/s", args.inserts)]:
            (pg_s, pg_n), (em_s, em_n) = results["postgres", bench], results["ember", bench]
            assert pg_n == em_n == size, (bench, pg_n, em_n)
            print(f"{bench:12} {size:>9,} rows  postgres {pg_s:8.2f} s ({pg_n / pg_s:>11,.0f} {unit})  "
                  f"ember {em_s:8.2f} s ({em_n / em_s:>11,.0f} {unit})  ember/postgres time {em_s / pg_s:.2f}")
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        subprocess.run(["su", "postgres", "-c", f"{PGBIN}/pg_ctl -D {pg_data} -m fast stop"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# Run Ember's whole test suite: unit tests, the over-the-wire integration tests
# (sqllogictest in text and binary protocol, TPC-H SF0.01 answers, restarts, protocol),
# a psql smoke test, the client compatibility suite, and a tiny-scale benchmark smoke run.
# A cold debug build takes about 15 minutes on 2 cores; later runs are incremental.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
# The Python of the UDF workers and of the Python tests (made by setup.sh).
export EMBER_VENV="${EMBER_VENV:-/work/.venv-ember}"
export EMBER_PYTHON="${EMBER_PYTHON:-$EMBER_VENV/bin/python}"

# One build of every target with one feature set (building a single package with -p
# would resolve features differently and rebuild DataFusion).
echo "== cargo build (all targets)"
cargo build --workspace --all-targets

echo "== cargo test"
cargo test --workspace --no-fail-fast

target="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"

echo "== differential suite against PostgreSQL 15 (sql-tests/postgres): identical rate per area"
cat "$target/tmp/differential-report.txt"

echo "== psql smoke test"
bash scripts/psql_smoke.sh "$target/debug/ember"

echo "== client compatibility suite (tests/clients: psql, psycopg2/3, asyncpg, pg8000, SQLAlchemy, pandas, pgjdbc, node-postgres, psqlODBC, pgcli, dbt, Superset)"
EMBER_BIN="$target/debug/ember" "${EMBER_VENV:-/work/.venv-ember}/bin/python" -m pytest tests/clients -q -p no:cacheprovider

echo "== benchmark smoke (TPC-H SF0.01, 1 iteration, debug build)"
"$target/debug/ember-bench-tpch" --sf 0.01 --iterations 1 --no-duckdb --ember "$target/debug/ember"

echo "== benchmark smoke (Python UDFs, 200k rows, Ember only, debug build)"
"$EMBER_PYTHON" bench/udf/bench_udf.py --ember "$target/debug/ember" --rows 200000 --runs 1 --no-baselines

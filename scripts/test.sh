#!/usr/bin/env bash
# Run Ember's whole test suite: unit tests, the over-the-wire integration tests
# (sqllogictest in text and binary protocol, TPC-H SF0.01 answers, restarts, protocol),
# a psql smoke test, and a tiny-scale benchmark smoke run.
# A cold debug build takes about 10 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

echo "== cargo test"
cargo test --workspace --no-fail-fast

target="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"

echo "== psql smoke test"
bash scripts/psql_smoke.sh "$target/debug/ember"

echo "== benchmark smoke (TPC-H SF0.01, 1 iteration)"
cargo run -q -p ember-bench-tpch -- --sf 0.01 --iterations 1 --no-duckdb --ember "$target/debug/ember"

#!/usr/bin/env bash
# Set up, build (release) and start `ember serve` on its embedded defaults:
# pgwire on 127.0.0.1:5432, data in ./ember-data. Extra arguments go to `ember serve`.
# A cold release build takes 20-40 minutes on 2 cores; later builds are incremental.
# (The benchmark is built with it: building both together keeps one feature set, so
# the benchmark build reuses the server build.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release -p ember-server -p ember-bench-tpch
# Python functions run in this virtualenv's Python (setup.sh installs pyarrow there).
export EMBER_PYTHON="${EMBER_PYTHON:-${EMBER_VENV:-/work/.venv-ember}/bin/python}"
exec "$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/ember" serve "$@"

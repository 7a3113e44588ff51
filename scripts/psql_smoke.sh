#!/usr/bin/env bash
# Start ember on a free port, check psql answers, run the README quickstart, stop it.
set -euo pipefail
ember="$1"
cd "$(dirname "$0")/.."
data=$(mktemp -d)
log="$data/ember.log"
"$ember" serve --port 0 --data-dir "$data/ember-data" 2>"$log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do
  grep -q "pgwire listening on" "$log" && break
  sleep 0.1
done
port=$(grep -o "pgwire listening on [0-9.:]*" "$log" | head -1 | sed 's/.*://')
[ -n "$port" ] || { cat "$log"; echo "ember did not start" >&2; exit 1; }
out=$(psql -X -h 127.0.0.1 -p "$port" -U ember -d ember -At -c 'select 1')
[ "$out" = "1" ] || { echo "psql select 1 gave: $out" >&2; exit 1; }
psql -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U ember -d ember -f examples/quickstart.sql >/dev/null
# Python functions (needs EMBER_PYTHON with pyarrow; scripts/test.sh exports it)
out=$(psql -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U ember -d ember -At -f examples/python_udf.sql)
echo "$out" | tail -1 | grep -qx '0' || { echo "Python UDF example: expected 0 mismatches, got: $out" >&2; exit 1; }
# an error, then the same connection answers again
out=$(psql -X -h 127.0.0.1 -p "$port" -U ember -d ember -At -c 'select * from nope' -c 'select 2' 2>&1 || true)
echo "$out" | grep -q 'relation\|not found' || { echo "expected an error, got: $out" >&2; exit 1; }
echo "$out" | grep -qx '2' || { echo "connection not usable after error: $out" >&2; exit 1; }
echo "psql smoke: ok (port $port)"

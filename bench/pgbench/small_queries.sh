#!/usr/bin/env bash
# Small-query throughput: pgbench against PostgreSQL 15 and one or more `ember` binaries,
# in the same run on the same machine, so the ratios compare like with like.
#
#   bench/pgbench/small_queries.sh EMBER_BINARY [EMBER_BINARY ...]
#
# Workloads (8 clients, 2 pgbench threads, $SECONDS_EACH seconds each, default 5):
#   select1-simple     SELECT 1, simple query protocol
#   select1-prepared   SELECT 1, extended protocol with prepared statements
#   lookup-prepared    SELECT v FROM t WHERE id = :id on a 1,000-row table, prepared
# PostgreSQL gets the table as a heap table, Ember as a CSV external table (Ember has no
# managed tables yet). Needs PostgreSQL 15's server binaries (Debian `postgresql`) and
# pgbench. Release builds only: a debug `ember` measures the compiler, not the server.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 EMBER_BINARY [EMBER_BINARY ...]" >&2; exit 2; }
SECONDS_EACH=${SECONDS_EACH:-5}
CLIENTS=${CLIENTS:-8}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
work=$(mktemp -d /tmp/ember-pgbench.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -d "$work/pg" ]; then su postgres -c "$PGBIN/pg_ctl -D $work/pg -m fast stop" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The table both servers read: id 1..1000, v = id * 7.
python3 - "$work/t.csv" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("id,v\n")
    for i in range(1, 1001):
        f.write(f"{i},{i * 7}\n")
PY
chmod 644 "$work/t.csv"
printf 'SELECT 1;\n' > "$work/select1.sql"
printf '\\set id random(1, 1000)\nSELECT v FROM t WHERE id = :id;\n' > "$work/lookup.sql"

# PostgreSQL 15, trust on loopback.
pg_port=$(free_port)
mkdir -p "$work/pg" && chown postgres "$work/pg"
su postgres -c "$PGBIN/initdb -D $work/pg -A trust -U postgres --no-locale -E UTF8" >/dev/null
su postgres -c "$PGBIN/pg_ctl -D $work/pg -o '-p $pg_port -k $work/pg -c listen_addresses=127.0.0.1 -c max_connections=50' -l $work/pg/server.log -w start" >/dev/null
psql -X -q -h 127.0.0.1 -p "$pg_port" -U postgres -c "CREATE TABLE t (id int PRIMARY KEY, v int)" \
  -c "\\copy t FROM '$work/t.csv' CSV HEADER" -c "ANALYZE t"

run() {  # PORT USER SCRIPT MODE -> TPS
  pgbench -n -h 127.0.0.1 -p "$1" -U "$2" -c "$CLIENTS" -j 2 -T "$SECONDS_EACH" -M "$4" -f "$3" postgres 2>/dev/null \
    | awk '/^tps/ { printf "%.0f", $3; exit }'
}

declare -A tps
names=(postgres)
measure() {  # NAME PORT USER
  tps[$1,select1-simple]=$(run "$2" "$3" "$work/select1.sql" simple)
  tps[$1,select1-prepared]=$(run "$2" "$3" "$work/select1.sql" prepared)
  tps[$1,lookup-prepared]=$(run "$2" "$3" "$work/lookup.sql" prepared)
}
measure postgres "$pg_port" postgres

i=0
for ember in "$@"; do
  i=$((i + 1))
  port=$(free_port)
  "$ember" serve --port "$port" --data-dir "$work/ember$i" 2>"$work/ember$i.log" &
  pids+=($!)
  for _ in $(seq 100); do psql -X -q -h 127.0.0.1 -p "$port" -U ember -c 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.2; done
  psql -X -q -h 127.0.0.1 -p "$port" -U ember \
    -c "CREATE EXTERNAL TABLE t (id INT, v INT) STORED AS CSV LOCATION '$work/t.csv' OPTIONS ('format.has_header' 'true')"
  name="ember$i"
  names+=("$name")
  measure "$name" "$port" ember
  kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
done

echo "pgbench, $CLIENTS clients, ${SECONDS_EACH}s each, $(nproc) cores; TPS (ratio to PostgreSQL)"
i=0
for ember in "$@"; do i=$((i + 1)); echo "  ember$i = $ember"; done
printf '%-18s' workload; for n in "${names[@]}"; do printf '%18s' "$n"; done; echo
for w in select1-simple select1-prepared lookup-prepared; do
  printf '%-18s' "$w"
  for n in "${names[@]}"; do
    v=${tps[$n,$w]:-0}
    if [ "$n" = postgres ]; then printf '%18s' "$v"
    else printf '%18s' "$v ($(python3 -c "print(f'{$v / max(${tps[postgres,$w]:-1}, 1):.2f}')"))"; fi
  done
  echo
done

#!/usr/bin/env bash
# Installs what building and testing Ember needs on a fresh Debian machine:
# the mold linker (.cargo/config.toml links with it), psql (smoke test), and the clients of
# the compatibility suite (tests/clients): a JDK + pgjdbc, psqlODBC + unixODBC, Node.js + npm,
# and the Python virtualenvs (the main one, with pgcli; dbt's; Superset's).
# Idempotent: does nothing when everything is already there.
set -euo pipefail

need=()
command -v mold >/dev/null 2>&1 || need+=(mold)
command -v psql >/dev/null 2>&1 || need+=(postgresql-client)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v javac >/dev/null 2>&1 || need+=(default-jdk-headless)
[ -f /usr/share/java/postgresql.jar ] || need+=(libpostgresql-jdbc-java)
{ command -v odbcinst >/dev/null 2>&1 && odbcinst -q -d 2>/dev/null | grep -q "PostgreSQL Unicode"; } || need+=(unixodbc odbc-postgresql)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v cargo >/dev/null 2>&1 || { echo "setup: cargo not found; install Rust from rustup first" >&2; exit 1; }

# Python virtualenvs outside the clone (reused across runs), each reinstalled only when its
# requirements file changes: the main one for the UDF workers, the UDF benchmark and the
# client tests; dbt and Superset in their own, as their pins clash with it (Superset 6
# needs SQLAlchemy 1.4). A cold Superset install downloads ~250 MB.
python_env() {  # VENV REQUIREMENTS
  local venv="$1" req="$2"
  if [ ! -x "$venv/bin/python" ]; then
    echo "setup: creating Python virtualenv $venv"
    python3 -m venv "$venv"
  fi
  if ! cmp -s "$req" "$venv/.ember-requirements"; then
    echo "setup: installing Python packages from $req into $venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
    cp "$req" "$venv/.ember-requirements"
  fi
}
scripts="$(dirname "$0")"
python_env "${EMBER_VENV:-/work/.venv-ember}" "$scripts/requirements.txt"
python_env "${EMBER_DBT_VENV:-/work/.venv-dbt}" "$scripts/requirements-dbt.txt"
python_env "${EMBER_SUPERSET_VENV:-/work/.venv-superset}" "$scripts/requirements-superset.txt"

# node-postgres for the client suite, pinned by tests/clients/node/package-lock.json.
node_dir="$(dirname "$0")/../tests/clients/node"
if ! cmp -s "$node_dir/package-lock.json" "$node_dir/node_modules/.ember-lock" 2>/dev/null; then
  echo "setup: installing node packages in tests/clients/node"
  (cd "$node_dir" && npm ci --no-audit --no-fund --silent)
  cp "$node_dir/package-lock.json" "$node_dir/node_modules/.ember-lock"
fi

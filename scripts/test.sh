#!/usr/bin/env bash
# Install everything the test suite needs, then run it: lint, types, and every test
# (real Blender, real SQLite and PostgreSQL, real HTTP, real Chromium).
#   ./scripts/test.sh            # whole suite
#   ./scripts/test.sh tests/core # any pytest arguments
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

need=()
command -v blender >/dev/null || need+=(blender)
command -v chromium >/dev/null || need+=(chromium)
command -v rsync >/dev/null || need+=(rsync)
command -v bwrap >/dev/null || need+=(bubblewrap)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing Debian packages: ${need[*]}"
  as_root apt-get update -q
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q "${need[@]}"
fi

# PostgreSQL: every database test runs on it too, so it must be up.
export FOXDEN_TEST_PG="${FOXDEN_TEST_PG:-postgresql://postgres@127.0.0.1:5432/test}"
pg_up() { python3 - "$FOXDEN_TEST_PG" <<'PY'
import socket, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
try:
    socket.create_connection((u.hostname or "127.0.0.1", u.port or 5432), timeout=2).close()
except OSError:
    sys.exit(1)
PY
}
if ! pg_up; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    echo "== installing PostgreSQL"
    as_root apt-get update -q
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q postgresql
  fi
  echo "== starting PostgreSQL"
  as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  pg_up || { echo "PostgreSQL is not reachable at $FOXDEN_TEST_PG" >&2; exit 1; }
fi
if ! python3 -c "import sys" 2>/dev/null; then exit 1; fi

if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  python3 -m venv .venv
fi
echo "== installing foxden and its test dependencies"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'

# The vendor's SDK (tests/rayvision/ drive it unmodified): its own environment, as it pins old
# versions of requests and urllib3 that must not meet foxden's.
if ! .rayvision-venv/bin/python -c "import rayvision_api, rayvision_sync" 2>/dev/null; then
  echo "== installing the vendor's SDK into .rayvision-venv"
  python3 -m venv .rayvision-venv
  .rayvision-venv/bin/python -m pip install -q rayvision-api rayvision-sync rayvision-utils rayvision-blender
fi

# A fresh machine may lack the trust login the tests use: give the postgres role a password then.
if ! .venv/bin/python -c "import psycopg,os; psycopg.connect(os.environ['FOXDEN_TEST_PG'], connect_timeout=5).close()" 2>/dev/null; then
  if command -v runuser >/dev/null && [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- psql -qc "ALTER USER postgres PASSWORD 'foxden-test'" >/dev/null
    runuser -u postgres -- psql -tAc "SELECT 1 FROM pg_database WHERE datname='test'" | grep -q 1 \
      || runuser -u postgres -- createdb test
    export FOXDEN_TEST_PG="postgresql://postgres:foxden-test@127.0.0.1:5432/test"
  fi
fi

echo "== ruff"
.venv/bin/ruff check src tests bench scripts
.venv/bin/ruff format --check src tests bench scripts
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
.venv/bin/pytest "$@"

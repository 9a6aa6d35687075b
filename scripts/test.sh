#!/usr/bin/env bash
# Lint and types, then the suite on SQLite and on PostgreSQL side by side (two pytest processes; each line of output
# is prefixed with its pass). Fails if PostgreSQL is required but unreachable. Extra arguments go to both pytests.
set -uo pipefail
cd "$(dirname "$0")/.."
PG_URL="${URP_TEST_PG_URL:-postgresql://postgres@127.0.0.1:5432/test}"
REDIS_BASE="${URP_TEST_REDIS_URL:-redis://127.0.0.1:6379/0}"
REDIS_BASE="${REDIS_BASE%/*}"
status=0
# in CI the whole stack must run: a missing Rasa runtime or model is a failure, not a skip
if [ "${CI:-}" = "true" ]; then export URP_REQUIRE_RASA=1; fi
echo "== lint (ruff) and types (mypy, strict on crm/core, crm/db.py, channels and knowledge): configured in pyproject.toml =="
.venv/bin/ruff check . || status=1
.venv/bin/ruff format --check . || status=1
.venv/bin/mypy || status=1

pg_ok=0
if .venv/bin/python - "$PG_URL" <<'PY'
import sys, psycopg
from crm.db import sync_url
url = sync_url(sys.argv[1]).replace("postgresql+psycopg", "postgresql")
try:
    psycopg.connect(url, connect_timeout=3).close()
except Exception as exc:
    print(f"PostgreSQL not reachable at {sys.argv[1]}: {exc}", file=sys.stderr)
    sys.exit(1)
PY
then
  pg_ok=1
elif [ "${CI:-}" = "true" ] || [ -n "${URP_REQUIRE_PG:-}" ]; then
  echo "PostgreSQL is required here but unreachable" >&2
  status=1
else
  echo "!! PostgreSQL unreachable: suite runs on SQLite only" >&2
fi

# one pass: NAME DATABASE_URL REDIS_DB [pytest args]. Each pass has its own Redis database (pub/sub channels and
# Rasa's locks carry its number), its own servers on free ports and its own temporary files
run_pass() {
  local name=$1 db=$2 redis_db=$3
  shift 3
  URP_TEST_DATABASE_URL="$db" URP_TEST_REDIS_URL="$REDIS_BASE/$redis_db" \
    .venv/bin/python -u -m pytest -p no:cacheprovider "$@" 2>&1 | sed -u "s/^/[$name] /"
  return "${PIPESTATUS[0]}"
}

if [ "$pg_ok" = 1 ]; then
  echo "== test suite on SQLite and on PostgreSQL, side by side (the PostgreSQL pass leaves out what no database can change: tests/conftest.py) =="
else
  echo "== test suite on SQLite =="
fi
run_pass sqlite "" 1 "$@" &
sqlite_pid=$!
if [ "$pg_ok" = 1 ]; then
  run_pass postgres "$PG_URL" 2 "$@" &
  pg_pid=$!
  wait "$pg_pid" || status=$?
fi
wait "$sqlite_pid" || status=$?
exit $status

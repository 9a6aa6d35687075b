#!/usr/bin/env bash
# Start `rasa run` (REST API for the CRM hub) with the embedded defaults unless the environment says otherwise:
#   tracker store: SQLite var/rasa_tracker.db   (RASA_TRACKER_URL=postgresql://... at scale)
#   lock store:    in-memory                     (RASA_LOCK_STORE=redis, RASA_LOCK_HOST/PORT at scale)
set -euo pipefail
cd "$(dirname "$0")/.."
# Rasa's HTTP API can read and rewrite every conversation: loopback unless URP_RASA_HOST says otherwise, and in
# production never without a token
HOST="${URP_RASA_HOST:-127.0.0.1}"
if [ "${URP_ENV:-}" = "production" ] && [ -z "${URP_RASA_TOKEN:-}" ]; then
  echo "refusing to start Rasa in production without URP_RASA_TOKEN (its HTTP API would be open)" >&2
  exit 1
fi
mkdir -p var
export URP_ACTIONS_URL="${URP_ACTIONS_URL:-http://127.0.0.1:5055/webhook}"
export RASA_TRACKER_DIALECT="${RASA_TRACKER_DIALECT:-sqlite}"
export RASA_TRACKER_URL="${RASA_TRACKER_URL:-sqlite:///$(pwd)/var/rasa_tracker.db}"
export RASA_TRACKER_DB="${RASA_TRACKER_DB:-rasa}"
export RASA_LOCK_STORE="${RASA_LOCK_STORE:-in_memory}"
export RASA_LOCK_HOST="${RASA_LOCK_HOST:-127.0.0.1}"
export RASA_LOCK_PORT="${RASA_LOCK_PORT:-6379}"
export RASA_LOCK_DB="${RASA_LOCK_DB:-1}"
export RASA_TELEMETRY_ENABLED=false
PORT="${RASA_PORT:-5005}"
MODEL="${RASA_MODEL:-$(ls -t models/*.tar.gz 2>/dev/null | head -1)}"
[ -n "$MODEL" ] || { echo "no trained model in models/: run make train" >&2; exit 1; }
args=(run --enable-api -i "$HOST" -p "$PORT" --model "$MODEL" --endpoints endpoints.yml --credentials bot/credentials.yml)
if [ -n "${URP_RASA_TOKEN:-}" ]; then args+=(--auth-token "$URP_RASA_TOKEN"); fi
# scripts/rasa_serve.py: `rasa` with the action server's answers checked without re-checking the schema each time
exec .venv-rasa/bin/python scripts/rasa_serve.py "${args[@]}"

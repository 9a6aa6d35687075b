#!/usr/bin/env bash
# Start `rasa run` (REST API for the CRM hub) with the embedded defaults unless the environment says otherwise:
#   tracker store: SQLite var/rasa_tracker.db   (RASA_TRACKER_URL=postgresql://... at scale)
#   lock store:    in-memory                     (RASA_LOCK_STORE=redis, RASA_LOCK_HOST/PORT at scale)
set -euo pipefail
cd "$(dirname "$0")/.."
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
args=(run --enable-api -i 127.0.0.1 -p "$PORT" --model "$MODEL" --endpoints endpoints.yml --credentials bot/credentials.yml)
if [ -n "${URP_RASA_TOKEN:-}" ]; then args+=(--auth-token "$URP_RASA_TOKEN"); fi
exec .venv-rasa/bin/rasa "${args[@]}"

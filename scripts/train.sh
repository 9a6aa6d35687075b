#!/usr/bin/env bash
# Train the Rasa model only when the training data or config changed (hash in the model's file name).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv-rasa/bin/rasa ] || bash scripts/setup_rasa.sh
HASH=$(cat config.yml bot/domain.yml bot/data/*.yml | sha256sum | cut -c1-16)
MODEL="models/urp-$HASH.tar.gz"
if [ -f "$MODEL" ]; then echo "model up to date: $MODEL"; exit 0; fi
mkdir -p models
export RASA_TELEMETRY_ENABLED=false TF_CPP_MIN_LOG_LEVEL=3 PYTHONHASHSEED=0
start=$(date +%s)
.venv-rasa/bin/rasa train --config config.yml --domain bot/domain.yml --data bot/data --out models \
  --fixed-model-name "urp-$HASH" --quiet
echo "trained $MODEL in $(( $(date +%s) - start ))s"
# keep only the current model
find models -name 'urp-*.tar.gz' ! -name "urp-$HASH.tar.gz" -delete

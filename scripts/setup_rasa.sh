#!/usr/bin/env bash
# Create .venv-rasa (Python 3.10, Rasa Open Source 3.6.21, pinned by constraints-rasa.txt). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-rasa
if [ -f "$VENV/.installed" ] && [ "$VENV/.installed" -nt constraints-rasa.txt ]; then exit 0; fi
PY310="$(scripts/find_python.sh 3.10)" || { echo "Rasa 3.6 needs Python 3.10: install it (pyenv install 3.10 or apt-get install python3.10-venv)"; exit 1; }
test -x "$VENV/bin/python" || "$PY310" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade "pip<25" "setuptools<70" wheel
if [ -s constraints-rasa.txt ]; then
  "$VENV/bin/pip" install -q -c constraints-rasa.txt rasa==3.6.21
else
  "$VENV/bin/pip" install -q rasa==3.6.21
fi
touch "$VENV/.installed"

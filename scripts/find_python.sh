#!/usr/bin/env bash
# Print the path of a Python interpreter of the given minor version (e.g. 3.11): on PATH, or under pyenv's versions.
set -euo pipefail
want="$1"
if command -v "python$want" >/dev/null 2>&1 && "python$want" -c 'import sys' >/dev/null 2>&1; then
  command -v "python$want"; exit 0
fi
root="$( (pyenv root 2>/dev/null) || echo "$HOME/.pyenv")"
for p in "$root"/versions/"$want".*/bin/python"$want"; do
  [ -x "$p" ] && { echo "$p"; exit 0; }
done
echo "Python $want not found. Install it (e.g. 'pyenv install $want' or 'apt-get install python$want python$want-venv') and retry." >&2
exit 1

#!/usr/bin/env bash
# Vendor Bootstrap Italia (pinned in package-lock.json) into crm/console/static/vendor. Idempotent.
# npm ci also brings the dev dependencies: axe-core, which the browser tests inject from node_modules, oidc-provider
# (the test and development OpenID provider, tests/oidc/provider.mjs) and lighthouse (the sportello's audit).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=crm/console/static/vendor/bootstrap-italia
MAP=crm/sportello/static/vendor/leaflet
if [ -f "$OUT/.built" ] && [ "$OUT/.built" -nt package-lock.json ] && [ -f node_modules/axe-core/axe.min.js ] \
   && [ -f "$MAP/leaflet.js" ]; then
  exit 0
fi
command -v npm >/dev/null || { echo "npm is needed to build the console assets (apt-get install npm)"; exit 1; }
npm ci --no-audit --no-fund --silent
rm -rf "$OUT" && mkdir -p "$OUT/css" "$OUT/js" "$OUT/svg"
SRC=node_modules/bootstrap-italia/dist
cp "$SRC/css/bootstrap-italia.min.css" "$OUT/css/"
cp "$SRC/js/bootstrap-italia.bundle.min.js" "$OUT/js/"
cp -r "$SRC/fonts" "$OUT/"
cp "$SRC/svg/sprites.svg" "$OUT/svg/"
# the sportello's map (segnala disservizio): Leaflet, served by the desk itself
rm -rf "$MAP" && mkdir -p "$MAP" && cp -r node_modules/leaflet/dist/leaflet.js node_modules/leaflet/dist/leaflet.css \
  node_modules/leaflet/dist/images "$MAP/"
touch "$OUT/.built"
echo "console assets built into $OUT"

#!/usr/bin/env bash
# Debian's Chromium for the browser tests (Playwright drives it with executable_path: it never downloads a browser
# here), with its Italian language files (chromium-l10n): without them date and time fields show mm/dd/yyyy and
# AM/PM in the screenshots whatever locale the test asks for. Idempotent.
# Without apt (or without the rights to use it) this only warns, so `make run` still works and the browser test
# skips; in CI (CI=true) a missing browser is an error, as the test would be.
set -uo pipefail
CHROMIUM=/usr/bin/chromium
[ -x "$CHROMIUM" ] && dpkg -s chromium-l10n >/dev/null 2>&1 && exit 0

give_up() {
  if [ "${CI:-}" = "true" ]; then echo "setup_browser: $*" >&2; exit 1; fi
  echo "setup_browser: warning: $* (the widget's browser test will be skipped)" >&2
  exit 0
}

command -v apt-get >/dev/null || give_up "apt-get not found: install Chromium as $CHROMIUM"
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null && sudo -n true 2>/dev/null || give_up "not root and no sudo: apt-get install chromium"
  SUDO=(sudo -n)
fi
export DEBIAN_FRONTEND=noninteractive
apt_install() { "${SUDO[@]}" apt-get install -y -q --no-install-recommends chromium chromium-l10n; }
echo "installing Debian's chromium and its language files"
# the package lists may be stale on a fresh machine: refresh them only when the install fails
apt_install || { "${SUDO[@]}" apt-get update -q && apt_install; } || give_up "apt-get could not install chromium"
[ -x "$CHROMIUM" ] || give_up "chromium installed but $CHROMIUM is missing"
"$CHROMIUM" --version || true

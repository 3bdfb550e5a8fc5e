#!/usr/bin/env bash
# Idempotent: Debian's Chromium + CJK fonts for the browser tests (Playwright drives /usr/bin/chromium;
# it never downloads a browser), and axe-core from npm for the accessibility check (optional).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk >/dev/null
  else
    echo "install_chromium.sh: /usr/bin/chromium or fonts-noto-cjk missing and apt-get (as root) unavailable;" \
         "browser tests will be skipped" >&2
  fi
fi
# axe-core (MPL-2.0) into tests/browser/node_modules (git-ignored); the tests run without it too.
AXE_VERSION=4.14.1
if [ ! -f tests/browser/node_modules/axe-core/axe.min.js ] && command -v npm >/dev/null 2>&1; then
  npm install --silent --no-save --no-audit --no-fund --prefix tests/browser "axe-core@${AXE_VERSION}" >/dev/null 2>&1 \
    || echo "install_chromium.sh: npm install axe-core failed; accessibility checks fall back to the built-in ones" >&2
fi

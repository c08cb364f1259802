#!/usr/bin/env bash
# Installs what the browser test (tests/test_web.py) needs: Debian's chromium, driven by Playwright
# with executable_path. Idempotent: does nothing when /usr/bin/chromium is already there.
# Never runs `playwright install` (that downloads a browser build, which cannot be fetched here).
set -euo pipefail

CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
    echo "install_browser: $CHROMIUM is present"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install_browser: not root and no sudo; install chromium yourself (apt-get install chromium)" >&2
        exit 1
    fi
fi

echo "install_browser: installing chromium with apt-get"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium >/dev/null
if [ ! -x "$CHROMIUM" ]; then
    echo "install_browser: apt-get finished but $CHROMIUM is missing" >&2
    exit 1
fi
echo "install_browser: $("$CHROMIUM" --version 2>/dev/null || echo chromium installed)"

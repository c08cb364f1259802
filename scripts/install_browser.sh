#!/usr/bin/env bash
# Installs what the browser test (tests/test_web.py) needs: Debian's chromium, driven by Playwright
# with executable_path. Idempotent: does nothing when /usr/bin/chromium is already there.
# Never runs `playwright install` (that downloads a browser build, which cannot be fetched here).
set -euo pipefail
cd "$(dirname "$0")"
bash apt_install.sh install_browser '[ -x /usr/bin/chromium ]' chromium

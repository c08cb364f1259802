#!/usr/bin/env bash
# Installs a Chinese font for the staff report charts (`python -m bot logs report`: matplotlib draws the
# question labels with it; scripts/logs_admin.py finds it with fc-list). Debian's fonts-wqy-microhei.
# Idempotent: does nothing when a Chinese font is already installed.
set -euo pipefail
cd "$(dirname "$0")"
bash apt_install.sh install_fonts \
    'command -v fc-list >/dev/null 2>&1 && [ -n "$(fc-list :lang=zh family 2>/dev/null | head -n 1)" ]' \
    fontconfig fonts-wqy-microhei

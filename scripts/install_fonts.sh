#!/usr/bin/env bash
# Installs a Chinese font for the staff report charts (`python -m bot logs report`: matplotlib draws the
# question labels with it; scripts/logs_admin.py finds it with fc-list). Debian's fonts-wqy-microhei.
# Idempotent: does nothing when a Chinese font is already installed.
set -euo pipefail

if command -v fc-list >/dev/null 2>&1 && [ -n "$(fc-list :lang=zh family 2>/dev/null | head -n 1)" ]; then
    echo "install_fonts: a Chinese font is present ($(fc-list :lang=zh family | head -n 1))"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install_fonts: not root and no sudo; install a Chinese font yourself (apt-get install fonts-wqy-microhei)" >&2
        exit 1
    fi
fi

echo "install_fonts: installing fonts-wqy-microhei (and fontconfig) with apt-get"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq fontconfig fonts-wqy-microhei >/dev/null
if [ -z "$(fc-list :lang=zh family 2>/dev/null | head -n 1)" ]; then
    echo "install_fonts: apt-get finished but fc-list finds no Chinese font" >&2
    exit 1
fi
echo "install_fonts: $(fc-list :lang=zh family | head -n 1)"

#!/usr/bin/env bash
# Installs Debian packages for a test or a feature, once: `apt_install.sh NAME 'CHECK' PACKAGE...`.
# CHECK is a shell condition that holds once what is needed is there; nothing is installed then.
# Otherwise runs apt-get (through sudo when not root) and checks again. Used by scripts/install_*.sh.
set -euo pipefail

if [ $# -lt 3 ]; then
    echo "usage: apt_install.sh NAME 'CHECK' PACKAGE..." >&2
    exit 2
fi
name=$1 check=$2
shift 2
if eval "$check"; then
    echo "$name: present"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "$name: not root and no sudo; install it yourself (apt-get install $*)" >&2
        exit 1
    fi
fi

echo "$name: installing $* with apt-get"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "$@" >/dev/null
if ! eval "$check"; then
    echo "$name: apt-get finished but it is still missing" >&2
    exit 1
fi
echo "$name: installed"

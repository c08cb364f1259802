#!/usr/bin/env bash
# Installs what the multi-machine test (tests/test_workers.py) needs: Debian's nginx, run by the test as
# an unprivileged proxy on a loopback port with the configuration from docs/nginx.md. The service
# Debian starts at install time is not used. Idempotent: does nothing when nginx is present.
set -euo pipefail

if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
    echo "install_nginx: $(/usr/sbin/nginx -v 2>&1 || nginx -v 2>&1)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install_nginx: not root and no sudo; install nginx yourself (apt-get install nginx)" >&2
        exit 1
    fi
fi

echo "install_nginx: installing nginx with apt-get"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq nginx >/dev/null
if [ ! -x /usr/sbin/nginx ]; then
    echo "install_nginx: apt-get finished but /usr/sbin/nginx is missing" >&2
    exit 1
fi
echo "install_nginx: $(/usr/sbin/nginx -v 2>&1)"

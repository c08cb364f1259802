#!/usr/bin/env bash
# Installs what the PostgreSQL tests need: Debian's PostgreSQL server binaries (initdb, pg_ctl, postgres).
# The tests start their own throwaway server on a loopback port (tests/pg.py); the cluster Debian
# creates and starts at install time is not used. Idempotent: does nothing when initdb is present.
set -euo pipefail

found=$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n1 || true)
if [ -n "$found" ]; then
    echo "install_postgres: $found is present"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install_postgres: not root and no sudo; install PostgreSQL yourself (apt-get install postgresql)" >&2
        exit 1
    fi
fi

echo "install_postgres: installing postgresql with apt-get"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq postgresql >/dev/null
found=$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n1 || true)
if [ -z "$found" ]; then
    echo "install_postgres: apt-get finished but no initdb under /usr/lib/postgresql/*/bin" >&2
    exit 1
fi
echo "install_postgres: $("${found%/initdb}/postgres" --version)"

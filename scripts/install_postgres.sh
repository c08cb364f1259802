#!/usr/bin/env bash
# Installs what the PostgreSQL tests need: Debian's PostgreSQL server binaries (initdb, pg_ctl, postgres).
# The tests start their own throwaway server on a loopback port (tests/pg.py); the cluster Debian
# creates at install time is not used. Idempotent: does nothing when initdb is present.
set -euo pipefail
cd "$(dirname "$0")"
bash apt_install.sh install_postgres 'ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1' postgresql

#!/usr/bin/env bash
# Installs what the several-machines test (tests/test_workers.py) needs: Debian's nginx, which the test
# runs as a proxy on a loopback port with the configuration from docs/nginx.md. The service Debian
# sets up at install time is not used. Idempotent: does nothing when nginx is present.
set -euo pipefail
cd "$(dirname "$0")"
bash apt_install.sh install_nginx '[ -x /usr/sbin/nginx ]' nginx

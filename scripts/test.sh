#!/usr/bin/env bash
# Set up (idempotent) and run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/install_chromium.sh  # Debian chromium + CJK fonts for tests/browser (skipped when present)
bash scripts/install_haproxy.sh   # Debian haproxy for tests/e2e/test_cluster.py (skipped when present)
SMARTREPLY_TEST_POSTGRES_DSN="$(bash scripts/install_postgres.sh)"; export SMARTREPLY_TEST_POSTGRES_DSN  # storage/API tests on PostgreSQL too
exec .venv/bin/python -m pytest "$@"

#!/usr/bin/env bash
# Set up (idempotent) and run the service on 127.0.0.1:8000 with the demo shop loaded.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/smartreply serve --demo "$@"

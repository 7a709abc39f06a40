#!/usr/bin/env bash
# The whole test suite, exactly as the README's quick start runs it (and .ci/run calls it).
# Real data for the tests is read from ../shared/data (override with MOTIONSEG_DATA).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== setup: ONNX Runtime 1.31.1 from PyPI into .venv"
scripts/setup.sh

echo "== Rust: unit, integration and doc tests (all features)"
cargo test --all-features --locked

echo "== Python: model training + ONNX export smoke tests (installs the training stack into .venv)"
models/smoke.sh

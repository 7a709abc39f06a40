#!/usr/bin/env bash
# The whole test suite, exactly as the README's quick start runs it (and .ci/run calls it).
# Real data for the tests is read from ../shared/data (override with MOTIONSEG_DATA).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== setup: ONNX Runtime 1.31.1 and grpcio 1.85.1 from PyPI into .venv"
scripts/setup.sh

echo "== Rust: unit, integration and doc tests of the workspace (all features; capi/ compiles and runs its C example with cc)"
cargo test --workspace --all-features --locked

echo "== Python: grpcio client of the live service against motionseg serve (stubs generated from proto/)"
cargo build --release --locked
MOTIONSEG_BIN="${CARGO_TARGET_DIR:-target}/release/motionseg" .venv/bin/python clients/python/test_replay.py

echo "== Python: model training + ONNX export smoke tests (installs the training stack into .venv)"
models/smoke.sh

#!/usr/bin/env bash
# Installs the ONNX Runtime library that motionseg loads at run time: the onnxruntime==1.31.1
# wheel from PyPI, into ./.venv at the repository root, and the gRPC tooling the Python client
# of the live service uses (grpcio, grpcio-tools; the latter bundles its own protoc). Idempotent;
# nothing is downloaded from anywhere but PyPI. (models/setup.sh adds the training stack to the
# same .venv.)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import onnxruntime, sys; sys.exit(onnxruntime.__version__ != '1.31.1')" 2>/dev/null; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "onnxruntime==1.31.1"
fi
if ! .venv/bin/python -c "import grpc, grpc_tools, sys; sys.exit(grpc.__version__ != '1.85.1')" 2>/dev/null; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "grpcio==1.85.1" "grpcio-tools==1.85.1"
fi
lib=$(ls .venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.1.31.1 2>/dev/null | head -1)
if [ -z "$lib" ]; then
  echo "scripts/setup.sh: onnxruntime installed but libonnxruntime.so.1.31.1 not found under .venv" >&2
  exit 1
fi
echo "ONNX Runtime 1.31.1: $lib" >&2

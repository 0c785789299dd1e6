#!/usr/bin/env bash
# Regenerate the committed Python code of protos/**/*.proto (needs the dev extra: grpcio-tools).
# Usage: scripts/gen_protos.sh   (from anywhere; uses .venv/bin/python when it exists)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=python
if [[ -x .venv/bin/python ]]; then PY=.venv/bin/python; fi
exec "$PY" -m protos.generate "$@"

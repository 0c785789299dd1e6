#!/usr/bin/env bash
# Set up (idempotent), lint, then run the whole test suite that a 2-core CPU machine can
# run: unit tests, the local Kafka broker (Tansu) tests, gRPC servers on loopback, real
# models. GPU tests skip themselves where no CUDA device is present.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/mypy mochat training ingest encoder_service llm_service demo
.venv/bin/python -m pytest -q "$@"

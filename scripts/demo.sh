#!/usr/bin/env bash
# The main job: set up, then run the most complete end-to-end path the project has today.
# Today: generate a small synthetic corpus and render one motion with its first action span.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
OUT=${MOCHAT_DEMO_DIR:-artifacts/demo}
mkdir -p "$OUT"
.venv/bin/mochat synth --out "$OUT/corpus" --motions 200 --seed 0
ID=$(head -n 1 "$OUT/corpus/test.txt")
SPAN=$(.venv/bin/python -c "import json,sys; a=json.load(open('$OUT/corpus/spans/$ID.json'))['actions'][0]; print(a['start'], a['end'])")
echo "motion $ID: $(head -n 1 "$OUT/corpus/texts/$ID.txt" | cut -d'#' -f1)"
.venv/bin/mochat render "$OUT/corpus/new_joints/$ID.npy" --out "$OUT/$ID.gif" --span $SPAN --stride 2

"""The evaluator reproduces the paper's published numbers from its released answer files.

Reads ../shared/reference/mochat-eval (relative to the repository root); skipped when absent.
The expected values are the tables of that folder's README (paper Tables 1, 3, 4).
"""

import json
from pathlib import Path

import pytest

from mochat.metrics import (
    caption_scores,
    read_captions,
    read_gap_questions,
    read_spans,
    spatial_accuracy,
    temporal_recall,
)

REF_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "mochat-eval"

pytestmark = pytest.mark.skipif(not REF_DIR.is_dir(), reason=f"{REF_DIR} not present")

CAPTIONS = {  # file: (BLEU@1, BLEU@4, ROUGE-L, CIDEr)
    "Mochat.txt": (61.75, 21.60, 47.59, 51.57),
    "Mochat-R.txt": (60.06, 21.30, 46.08, 46.57),
}
SPATIAL = {"MoChat.txt": 85.70, "MoChat-R.txt": 81.90}
TEMPORAL = {"MoR.txt": (33.05, 21.89, 12.02)}


@pytest.mark.parametrize("name", sorted(CAPTIONS))
def test_caption_tables(name):
    folder = REF_DIR / "motion_understanding"
    refs_by_file = [read_captions(folder / f"ref{k}.txt") for k in range(3)]
    refs = [list(r) for r in zip(*refs_by_file, strict=True)]
    scores = caption_scores(read_captions(folder / name), refs)
    got = tuple(round(scores[k], 2) for k in ("bleu_1", "bleu_4", "rouge_l", "cider"))
    assert got == CAPTIONS[name]


@pytest.mark.parametrize("name", sorted(SPATIAL))
def test_spatial_table(name):
    folder = REF_DIR / "spatial_limb_grounding"
    questions = read_gap_questions(folder / "lor_prompt_1182.txt")
    preds = read_captions(folder / name)
    accuracy = spatial_accuracy(preds, [q.answer for q in questions])
    assert round(accuracy, 2) == SPATIAL[name]


@pytest.mark.parametrize("name", sorted(TEMPORAL))
def test_temporal_table(name):
    folder = REF_DIR / "temporal_action_grounding"
    scores = temporal_recall(read_spans(folder / name), read_spans(folder / "real_ans_233.txt"))
    got = tuple(round(scores[f"r1_iou_{t}"], 2) for t in (0.3, 0.5, 0.7))
    assert got == TEMPORAL[name]


def test_every_reference_file_is_covered():
    # a new answer file in the shared folder must get its published number here too
    covered = {("motion_understanding", n) for n in CAPTIONS}
    covered |= {("motion_understanding", f"ref{k}.txt") for k in range(3)}
    covered |= {("spatial_limb_grounding", n) for n in [*SPATIAL, "lor_prompt_1182.txt"]}
    covered |= {("temporal_action_grounding", n) for n in [*TEMPORAL, "real_ans_233.txt"]}
    present = {(p.parent.name, p.name) for p in REF_DIR.glob("*/*.txt")}
    assert present == covered


def test_cli_json_reproduces_temporal_table(run_eval, capsys):
    folder = REF_DIR / "temporal_action_grounding"
    assert run_eval(["temporal", "--pred", str(folder / "MoR.txt"),
                     "--ref", str(folder / "real_ans_233.txt"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [round(out[k], 2) for k in ("r1_iou_0.3", "r1_iou_0.5", "r1_iou_0.7")] == [
        33.05, 21.89, 12.02]

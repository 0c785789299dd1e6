"""`mochat batch` end to end with a tiny random MoChat: kill and resume, shards and merge,
and the evaluator's metrics on the evaluator's rows."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mochat.cli import main
from mochat.pipeline import MoChatPipeline

ROOT = Path(__file__).resolve().parents[2]
QUESTIONS = "questions:\n- What does the person do?\n- When does the person jump?\n"
# `mochat batch` in a subprocess that SIGKILLs itself when it starts its (KILL_AT)th batch
KILLED_AT_BATCH = """
import os, signal, sys
from mochat.cli import main
from mochat.pipeline import MoChatPipeline
answer_batch, calls = MoChatPipeline.answer_batch, [0]
def dying(self, items, **kwargs):
    calls[0] += 1
    if calls[0] == int(os.environ["KILL_AT"]):
        os.kill(os.getpid(), signal.SIGKILL)
    return answer_batch(self, items, **kwargs)
MoChatPipeline.answer_batch = dying
sys.exit(main(sys.argv[1:]))
"""


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _batch(corpus, checkpoint, out, *extra) -> list[str]:
    return ["batch", "--archive", str(corpus), "--split", "test", "--out", str(out),
            "--model", str(checkpoint), "--batch-size", "2", "--max-new-tokens", "8",
            "--no-progress", *extra]


@pytest.fixture
def asked(monkeypatch) -> list[str]:
    """Every question the pipeline is asked in this process."""
    questions: list[str] = []
    real = MoChatPipeline.answer_batch

    def counting(self, items, **kwargs):
        questions.extend(q for _, q in items)
        return real(self, items, **kwargs)

    monkeypatch.setattr(MoChatPipeline, "answer_batch", counting)
    return questions


def test_a_killed_run_resumes_where_it_stopped(corpus, tiny_checkpoint, tmp_path, asked):
    questions = tmp_path / "q.yaml"
    questions.write_text(QUESTIONS)
    args = _batch(corpus, tiny_checkpoint, tmp_path / "killed", "--questions", str(questions))
    env = {**os.environ, "KILL_AT": "3", "OMP_NUM_THREADS": "1"}  # as _one_thread
    proc = subprocess.run([sys.executable, "-c", KILLED_AT_BATCH, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    shard = tmp_path / "killed" / "shard-0-of-1.jsonl"
    assert len(_rows(shard)) == 4  # two batches of 2 made it to disk, fsync'd
    assert not (tmp_path / "killed" / "shard-0-of-1.done").exists()
    with open(shard, "a") as f:  # and a torn line, as a kill mid-write leaves
        f.write('{"index": 4, "unit": "S0')

    assert main(args) == 0  # the rerun
    rows = _rows(shard)
    units = 6 * 2  # 6 test motions x 2 questions
    assert len(asked) == units - 4  # only what was not on disk was asked again
    assert len(rows) == units and len({r["unit"] for r in rows}) == units
    assert (tmp_path / "killed" / "shard-0-of-1.done").exists()

    assert main(_batch(corpus, tiny_checkpoint, tmp_path / "whole", "--questions",
                       str(questions))) == 0
    assert rows == _rows(tmp_path / "whole" / "shard-0-of-1.jsonl")  # same rows, same batches
    when = [r for r in rows if r["question_id"] == "q1"]
    assert all(r["span"] is not None and r["fps"] == 20.0 for r in when)
    assert all(r["model_version"].startswith("sha256:") for r in rows)

    assert main(args) == 0  # a finished shard asks nothing more
    assert len(asked) == units - 4 + units


def test_shards_merge_into_one_run_s_rows(corpus, tiny_checkpoint, tmp_path, capsys):
    questions = tmp_path / "q.yaml"
    questions.write_text(QUESTIONS)
    out = tmp_path / "out"
    for index in (0, 2):
        assert main(_batch(corpus, tiny_checkpoint, out, "--questions", str(questions),
                           "--shard", f"{index}/3")) == 0
    capsys.readouterr()
    assert main(["batch", "merge", "--out", str(out), "--shards", "3"]) == 2
    assert "shard 1 (shard-1-of-3.jsonl): missing" in capsys.readouterr().err
    assert main(_batch(corpus, tiny_checkpoint, out, "--questions", str(questions),
                       "--shard", "1/3")) == 0
    assert main(["batch", "merge", "--out", str(out), "--shards", "3"]) == 0
    merged = _rows(out / "results.jsonl")
    shards = [_rows(out / f"shard-{i}-of-3.jsonl") for i in range(3)]
    assert sorted(r["unit"] for r in merged) == sorted(r["unit"] for s in shards for r in s)
    assert [r["index"] for r in merged] == list(range(12))  # one unsharded run's order
    assert len({r["motion_id"] for s in shards for r in s}) == 6
    for s in shards:  # a motion's questions all in one shard
        assert not {r["motion_id"] for r in s} & {r["motion_id"] for t in shards
                                                  if t is not s for r in t}
    capsys.readouterr()
    other = _batch(corpus, tiny_checkpoint, out, "--questions", str(questions), "--shard",
                   "0/3", "--batch-size", "4")
    assert main(other) == 2
    assert "other settings" in capsys.readouterr().err


def test_task_metrics_are_the_evaluator_s(corpus, dialogues, tiny_checkpoint, tmp_path):
    from mochat.models.mochat import MoChat
    from training.lm_data import encode_corpus, read_dialogues
    from training.lm_eval import answer_rows, evaluate_model

    out = tmp_path / "tasks"
    assert main(["batch", "--archive", str(corpus), "--tasks", "captions", "spatial",
                 "temporal", "--dialogues", str(dialogues), "--per-task", "4", "--out",
                 str(out), "--model", str(tiny_checkpoint), "--max-new-tokens", "8",
                 "--no-bertscore", "--no-progress"]) == 0
    ours = json.loads((out / "metrics-shard-0.json").read_text())
    theirs = evaluate_model(MoChat.from_pretrained(tiny_checkpoint), corpus, dialogues,
                            per_task=4, max_new_tokens=8, bertscore=False, baselines=False)
    assert ours["questions"] == {"captions": 4, "spatial": 4, "temporal": 4, "failed": 0}
    # the evaluator also re-asks its gap questions about mirror-image motions, a check of
    # the model that batch rows (one answer per question) do not carry
    assert "motion_mirrored" not in ours["spatial"]
    theirs["spatial"].pop("motion_mirrored")
    for task in ("captions", "spatial", "temporal"):
        assert ours[task] == theirs[task], task
    assert main(["batch", "merge", "--out", str(out), "--shards", "1"]) == 0
    merged = json.loads((out / "metrics.json").read_text())
    assert {t: merged[t] for t in ("captions", "spatial", "temporal")} == \
        {t: theirs[t] for t in ("captions", "spatial", "temporal")}
    rows = _rows(out / "results.jsonl")
    # the answers themselves, not only their scores (a tiny random model scores 0 at
    # captions and sides): the evaluator's first captions, and its gap answers
    captions = [r for r in rows if r["task"] == "basic"]
    assert [(r["motion_id"], r["answer"]) for r in captions] == \
        [(e["motion_id"], e["pred"]) for e in theirs["captions_examples"]]
    gap_rows = [r for r in read_dialogues(dialogues, "test", limit_per_task=4, seed=0)
                if r["task"] == "spatial_gap"]
    model = MoChat.from_pretrained(tiny_checkpoint)
    features = encode_corpus(model.encoder, corpus, [r["motion_id"] for r in gap_rows],
                             progress=False)
    answers = answer_rows(MoChatPipeline(model, max_new_tokens=8), gap_rows, features)
    assert [r["answer"] for r in rows if r["task"] == "spatial_gap"] == \
        [a.text for a in answers]
    temporal = [r for r in rows if r["task"] == "temporal"]
    assert all(r["gold"]["span"] and r["span"] for r in temporal)

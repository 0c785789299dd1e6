import json
import shutil

import pytest

from mochat.dialogue.build import TASKS, build_dialogues
from mochat.metrics import read_gap_questions, read_spans, spatial_accuracy
from mochat.skeleton.corpus import HumanML3DCorpus


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def built(synth_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("dialogues")
    report = build_dialogues(synth_corpus, out, seed=0, general=False)
    return out, report


def test_every_split_and_task_is_written(built):
    out, report = built
    for split in ("train", "val", "test"):
        for task in TASKS:
            assert (out / split / f"{task}.jsonl").exists()
    assert report.counts["train"]["basic"] > 0 and report.counts["test"]["temporal"] > 0


def test_no_motion_leaks_across_splits(built, synth_corpus):
    out, _ = built
    corpus = HumanML3DCorpus(synth_corpus)
    for split in ("train", "val", "test"):
        ids = set(corpus.ids(split))
        for task in TASKS:
            used = {row["motion_id"] for row in _rows(out / split / f"{task}.jsonl")}
            assert used <= ids, f"{split}/{task} holds motions of another split"
    train_used = {r["motion_id"] for t in TASKS for r in _rows(out / "train" / f"{t}.jsonl")}
    assert not train_used & set(corpus.ids("test"))


def test_gap_filling_is_balanced(built):
    out, report = built
    for split, sides in report.gap_sides.items():
        assert sides["left"] == sides["right"], split
        answers = [r["conversations"][1]["value"] for r in _rows(out / split / "spatial_gap.jsonl")]
        assert answers.count("Left.") == answers.count("Right.")


def test_every_dialogue_opens_with_one_skeleton(built):
    out, _ = built
    for task in TASKS:
        for row in _rows(out / "train" / f"{task}.jsonl"):
            humans = [t["value"] for t in row["conversations"] if t["from"] == "human"]
            assert humans[0].startswith("<skeleton>\n")
            assert sum(h.count("<skeleton>") for h in humans) == 1


def test_temporal_spans_are_the_ground_truth(built, synth_corpus):
    out, _ = built
    corpus = HumanML3DCorpus(synth_corpus)
    rows = _rows(out / "test" / "temporal.jsonl")
    expected = [[s.start, s.end] for mid in corpus.ids("test") for s in corpus.load(mid).spans]
    assert [r["span"] for r in rows] == expected


def test_eval_files_line_up_with_test_dialogues(built):
    out, _ = built
    gaps = _rows(out / "test" / "spatial_gap.jsonl")
    questions = read_gap_questions(out / "eval" / "spatial_questions.txt")
    assert len(questions) == len(gaps)
    # answering every question with the dialogue's own answer scores 100 %
    answers = [g["conversations"][1]["value"] for g in gaps]
    assert spatial_accuracy(answers, [q.answer for q in questions]) == 100.0
    spans = read_spans(out / "eval" / "temporal_gt.txt")
    assert spans == [tuple(r["span"]) for r in _rows(out / "test" / "temporal.jsonl")]
    refs = [(out / "eval" / f"captions_ref{k}.txt").read_text().splitlines() for k in range(3)]
    ids = (out / "eval" / "captions_ids.txt").read_text().splitlines()
    assert len(ids) == len(refs[0]) == len(refs[1]) == len(refs[2])


def test_corpus_without_spans_uses_the_timestamp_pipeline(synth_corpus, tmp_path):
    data = tmp_path / "nospans"
    shutil.copytree(synth_corpus, data)
    shutil.rmtree(data / "spans")
    report = build_dialogues(data, tmp_path / "out", general=False)
    assert report.temporal_source == "timestamp pipeline"
    rows = _rows(tmp_path / "out" / "train" / "temporal.jsonl")
    assert rows and all(0 <= r["span"][0] <= r["span"][1] for r in rows)

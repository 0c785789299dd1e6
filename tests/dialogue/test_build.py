import json
import shutil

import numpy as np
import pytest

from mochat.dialogue.build import TASKS, build_dialogues, caption_frames, caption_segments
from mochat.metrics import read_gap_questions, read_spans, spatial_accuracy
from mochat.skeleton.corpus import Caption, HumanML3DCorpus, MotionRecord
from mochat.synth import SynthConfig, write_corpus


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


# Caption times. One corpus of 8 motions (seed 3) is built twice: as written (every caption
# of the whole motion), then with `#1.0#2.5` (20 fps: frames 20..50, 31 frames) on caption 1
# of train motion S000000 (99 frames) and caption 2 of test motion S000007 (99 frames), and
# S000000's spans/ file removed, as real HumanML3D has none.
TRAIN_MOTION, TEST_MOTION = "S000000", "S000007"


def _set_caption_times(root, motion_id, line, times):
    path = root / "texts" / f"{motion_id}.txt"
    lines = path.read_text().splitlines()
    lines[line] = lines[line].rsplit("#", 2)[0] + times  # text#tokens, new start#end
    path.write_text("\n".join(lines) + "\n")
    return lines[line].split("#")[0]


@pytest.fixture(scope="module")
def timed(tmp_path_factory):
    root = tmp_path_factory.mktemp("timed")
    write_corpus(root / "corpus", SynthConfig(motions=8, seed=3))
    before = build_dialogues(root / "corpus", root / "before", general=False)
    train_caption = _set_caption_times(root / "corpus", TRAIN_MOTION, 1, "#1.0#2.5")
    test_caption = _set_caption_times(root / "corpus", TEST_MOTION, 2, "#1.0#2.5")
    (root / "corpus" / "spans" / f"{TRAIN_MOTION}.json").unlink()
    after = build_dialogues(root / "corpus", root / "after", general=False)
    return root, before, after, train_caption, test_caption


def _answers(row):
    return " ".join(t["value"] for t in row["conversations"])


def test_caption_frames_convention():
    def frames(start_s, end_s, num_frames=99):
        return caption_frames(Caption("x", "", start_s, end_s), num_frames)

    assert frames(0.0, 0.0) is None  # 0/0: the whole motion
    assert frames(1.0, 2.5) == (20, 50)  # round(s * 20), inclusive: 31 frames
    assert frames(1.02, 2.53) == (20, 51)  # 20.4 -> 20, 50.6 -> 51
    assert frames(4.0, 9.0) == (80, 98)  # clamped to the last frame, 98
    assert frames(0.0, 6.0) is None  # clamps to frames 0..98: the whole motion
    first, last = frames(6.0, 7.0)
    assert (first, last) == (120, 98) and first > last  # after the motion ends: empty


def test_a_caption_outside_the_motion_is_left_out():
    record = MotionRecord("M1", np.zeros((99, 22, 3), np.float32), [
        Caption("a man waves.", "", 0.0, 0.0), Caption("a man sits.", "", 6.0, 7.0),
        Caption("a man jumps.", "", 1.0, 2.5)])
    # the sitting starts at frame 120 of a 99-frame motion: no frame of it is there
    assert caption_segments(record) == [("a man waves.", None), ("a man jumps.", (20, 50))]


def test_segment_captions_give_dialogues_about_their_frames(timed):
    root, _, _, caption, _ = timed
    for task in ("basic", "spatial", "spatial_gap"):
        rows = [r for r in _rows(root / "after" / "train" / f"{task}.jsonl")
                if r["motion_id"] == TRAIN_MOTION]
        timed_rows = [r for r in rows if "frames" in r]
        assert timed_rows, task
        for row in timed_rows:
            assert row["frames"] == [20, 50]
        # every dialogue about frames 20..50 comes from the timed caption, and only those
        words = caption.split()[:3]  # "a woman kicks": the other captions start otherwise
        assert all(" ".join(words) in _answers(r).lower() for r in timed_rows), task
        assert not any(" ".join(words) in _answers(r).lower() for r in rows
                       if "frames" not in r), task
    (basic,) = [r for r in _rows(root / "after" / "train" / "basic.jsonl")
                if r.get("frames")]
    assert basic["id"] == f"basic-{TRAIN_MOTION}-1" and basic["conversations"][1]["value"] \
        == caption


def test_whole_motion_rows_are_unchanged(timed):
    root = timed[0]
    for split in ("train", "test"):
        # each timed caption gives 1 basic, 1 spatial and 2 gap rows (a left and a right)
        timed_rows = {"basic": 0, "spatial": 0, "spatial_gap": 0}
        for task in timed_rows:
            before = (root / "before" / split / f"{task}.jsonl").read_text().splitlines()
            after = (root / "after" / split / f"{task}.jsonl").read_text().splitlines()
            assert len(before) == len(after)
            for old, new in zip(before, after, strict=True):
                row = json.loads(new)
                if "frames" in row:  # a timed caption's row: the same but for its frames
                    del row["frames"]
                    assert row == json.loads(old)
                    timed_rows[task] += 1
                else:
                    assert new == old  # byte for byte
        assert timed_rows == {"basic": 1, "spatial": 1, "spatial_gap": 2}, split
        before = [line for line in (root / "before" / split / "temporal.jsonl").read_text()
                  .splitlines() if f'"motion_id": "{TRAIN_MOTION}"' not in line]
        after = [line for line in (root / "after" / split / "temporal.jsonl").read_text()
                 .splitlines() if f'"motion_id": "{TRAIN_MOTION}"' not in line]
        assert before == after and before


def test_segment_captions_are_temporal_labels_without_spans(timed):
    root, before, after, caption, _ = timed
    rows = [r for r in _rows(root / "after" / "train" / "temporal.jsonl")
            if r["motion_id"] == TRAIN_MOTION]
    # the motion has no spans file and one timed caption: one label, its frames 20..50
    assert [r["span"] for r in rows] == [[20, 50]]
    assert caption.rstrip(".") in rows[0]["conversations"][0]["value"]
    assert "frames" not in rows[0]  # asked about the whole motion
    assert before.temporal_source == "spans"
    assert after.temporal_source == "spans + caption times"


def test_segment_captions_are_no_whole_motion_reference(timed):
    root, _, _, _, caption = timed
    ids = (root / "after" / "eval" / "captions_ids.txt").read_text().splitlines()
    refs = [(root / "after" / "eval" / f"captions_ref{k}.txt").read_text().splitlines()
            for k in range(3)]
    old_refs = [(root / "before" / "eval" / f"captions_ref{k}.txt").read_text().splitlines()
                for k in range(3)]
    row = ids.index(TEST_MOTION)
    assert old_refs[2][row] == caption  # before: its third caption
    # after: two whole-motion captions are left, so the third reference repeats the second
    assert refs[2][row] == refs[1][row] == old_refs[1][row]
    segments = (root / "after" / "eval" / "captions_segments.txt").read_text().splitlines()
    assert segments == [f"{TEST_MOTION}+++++20+++++50+++++{caption}"]
    assert not (root / "before" / "eval" / "captions_segments.txt").exists()
    # a gap question about the segment names its frames; the file stays aligned
    gaps = _rows(root / "after" / "test" / "spatial_gap.jsonl")
    questions = read_gap_questions(root / "after" / "eval" / "spatial_questions.txt")
    assert [q.qid for q in questions] == [
        f"{g['motion_id']}@20-50" if g.get("frames") else g["motion_id"] for g in gaps]
    assert sum(q.qid == f"{TEST_MOTION}@20-50" for q in questions) == 2  # its two side words

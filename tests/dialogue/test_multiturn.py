"""Sessions and presence questions: every answer follows its question and keeps its span."""

from __future__ import annotations

import json
import random

import pytest

from mochat.dialogue import build
from mochat.dialogue import multiturn as mt
from mochat.dialogue import templates as tpl
from mochat.dialogue.builders import GapItem
from mochat.metrics.files import parse_span
from mochat.pipeline import asks_when
from mochat.skeleton.corpus import ActionSpan, HumanML3DCorpus


def _span(action: str, side: str, start: int, end: int, phrase: str) -> ActionSpan:
    return ActionSpan(action, phrase, "body", side, start, end)


KICK_LEFT = _span("kick", "left", 5, 30, "kicks with the left foot")
SQUAT = _span("squat", "none", 40, 80, "squats down and stands back up")
VOCAB = {("jump", "none"): ("jumps up",), ("jump_forward", "none"): ("leaps forward",),
         ("kick", "left"): ("kicks with the left foot",),
         ("kick", "right"): ("kicks with the right foot",),
         ("raise_arm", "both"): ("raises both arms",), ("idle", "none"): ("stands still",),
         ("squat", "none"): ("does a squat",)}


@pytest.mark.parametrize(("phrase", "base"), [
    ("kicks with the left foot", "kick with the left foot"),
    ("squats down and stands back up", "squat down and stand back up"),
    ("does a squat", "do a squat"),
    ("punches forward with their left fist", "punch forward with their left fist"),
    ("applauds", "applaud"),
    ("raises the left hand and waves", "raise the left hand and wave"),
])
def test_base_form(phrase, base):
    assert mt.base_form(phrase) == base


def test_absent_actions_by_action_and_side():
    # a left kick and a squat: the right kick is absent (the other side), jumps too;
    # the left kick, the squat and idle are not, and "both arms" is absent (no raise)
    assert mt.absent_actions([KICK_LEFT, SQUAT], VOCAB) == [
        ("jump", "none"), ("jump_forward", "none"), ("kick", "right"), ("raise_arm", "both")]
    # a jump forward is a jump: neither is asked about as absent
    leap = _span("jump_forward", "none", 0, 20, "leaps forward")
    assert not mt.is_absent("jump", "none", [leap])
    # a raise of both arms holds the left one, and a left raise is no raise of both
    both = _span("raise_arm", "both", 0, 20, "raises both arms")
    assert not mt.is_absent("raise_arm", "left", [both])
    left = _span("raise_arm", "left", 0, 20, "raises the left arm")
    assert not mt.is_absent("raise_arm", "both", [left])


def test_presence_dialogues():
    rng = random.Random(0)
    out = mt.presence_dialogues("M1", [KICK_LEFT, SQUAT], VOCAB, rng)
    absent, present = out["absent"], out["present"]
    # one "when" and one yes/no about absent actions: the one answer, no span
    assert [asks_when(r["conversations"][0]["value"]) for r in absent] == [True, False]
    assert all(r["conversations"][1]["value"] == tpl.NOT_IN_MOTION and r["span"] is None
               for r in absent)
    yes, when = present
    assert yes["conversations"][1]["value"].startswith("Yes, the person ")
    assert yes["span"] is None and not asks_when(yes["conversations"][0]["value"])
    assert asks_when(when["conversations"][0]["value"])
    assert tuple(when["span"]) in {(5, 30), (40, 80)}
    assert parse_span(when["conversations"][1]["value"]) == tuple(map(float, when["span"]))
    assert not when["conversations"][0]["value"].startswith("<skeleton>\nAnd ")


CAPTION = "a man kicks with the left foot, then squats."
GAP = GapItem("M1", CAPTION, CAPTION.index("left"), CAPTION.index("left") + 4)


def _pool():
    return mt.candidate_turns([CAPTION], [GAP],
                              [KICK_LEFT, SQUAT], VOCAB, random.Random(1))


def test_candidate_turns_answer_their_own_questions():
    pool = _pool()
    assert [t.answer for t in pool["gap"]] == ["Left."]
    assert sorted(t.span for t in pool["when"]) == [(5, 30), (40, 80)]
    assert all(t.answer == tpl.NOT_IN_MOTION and t.span is None
               for kind in ("when_absent", "yes_absent") for t in pool[kind])
    assert all(asks_when(t.question) for t in pool["when"] + pool["when_absent"])
    assert not any(asks_when(t.question) for t in pool["yes"] + pool["yes_absent"])


def test_sessions_mix_kinds_and_keep_every_span():
    rows = mt.multiturn_dialogues("M1", [CAPTION], [GAP], [KICK_LEFT, SQUAT], VOCAB,
                                  random.Random(3), sessions=40)
    assert len(rows) > 30
    orders = set()
    for row in rows:
        answers = row["conversations"][1::2]
        assert 2 <= len(answers) <= 4 and len(row["spans"]) == len(answers)
        assert row["span"] == row["spans"][-1]
        assert row["conversations"][0]["value"].startswith("<skeleton>\n")
        for answer, span in zip(answers, row["spans"], strict=True):
            # a span exactly where the answer states frames, and those frames
            parsed = parse_span(answer["value"])
            assert (parsed is None) == (span is None)
            assert span is None or parsed == tuple(map(float, span))
        whens = [tuple(s) for s in row["spans"] if s is not None]
        assert len(whens) == len(set(whens))  # two "when"s name two actions
        orders.add(tuple("span" if s else a["value"][:3] for s, a in
                         zip(row["spans"], answers, strict=True)))
    assert len(orders) > 10  # the kinds come in many orders


def test_sessions_are_deterministic_by_seed():
    def make(seed):
        return mt.multiturn_dialogues("M1", ["a man kicks."], [], [KICK_LEFT, SQUAT], VOCAB,
                                      random.Random(seed))
    assert make(5) == make(5) and make(5) != make(6)


@pytest.fixture(scope="module")
def built(synth_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("sessions")
    build.build_dialogues(synth_corpus, out, seed=0, general=False)
    return out


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_older_sets_do_not_depend_on_the_new_ones(synth_corpus, built, tmp_path, monkeypatch):
    # built once more without the new sets: every older file is the same, byte for byte
    monkeypatch.setattr(build, "_session_sets", lambda *a: {})
    build.build_dialogues(synth_corpus, tmp_path, seed=0, general=False)
    for split in ("train", "val", "test"):
        for task in ("basic", "spatial", "spatial_gap", "temporal"):
            assert (built / split / f"{task}.jsonl").read_bytes() == \
                (tmp_path / split / f"{task}.jsonl").read_bytes(), (split, task)
    assert (built / "eval" / "temporal_gt.txt").read_bytes() == \
        (tmp_path / "eval" / "temporal_gt.txt").read_bytes()
    for task in ("basic", "temporal"):  # and they carry no "spans"
        assert all("spans" not in r for r in _rows(built / "train" / f"{task}.jsonl"))


def test_built_sessions_and_absent_questions_hold_the_ground_truth(synth_corpus, built):
    corpus = HumanML3DCorpus(synth_corpus)
    for split in ("train", "test"):
        ids = set(corpus.ids(split))
        for row in _rows(built / split / "multiturn.jsonl"):
            assert row["motion_id"] in ids
            truth = {(s.start, s.end) for s in corpus.spans(row["motion_id"])}
            assert {tuple(s) for s in row["spans"] if s} <= truth
        for row in _rows(built / split / "absent.jsonl"):
            assert row["motion_id"] in ids
            question = row["conversations"][0]["value"]
            present = corpus.spans(row["motion_id"])
            # the question names no phrase of an action the motion holds
            assert not any(mt.base_form(s.phrase) in question or s.phrase in question
                           for s in present), question
    counts = {t: len(_rows(built / "train" / f"{t}.jsonl"))
              for t in ("multiturn", "absent", "present")}
    assert all(n > 0 for n in counts.values()), counts

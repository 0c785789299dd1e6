"""Mirror augmentation of the instruction data: the dialogue and the features must agree."""

from __future__ import annotations

import json
import random
from collections import Counter

import numpy as np
import pytest
import torch

from mochat.dialogue import mirror_text
from mochat.dialogue.build import build_dialogues
from mochat.errors import DataFormatError
from mochat.models import build_encoder, encoder_tiny
from mochat.models.chat_format import IGNORE_INDEX, SKELETON_TOKEN
from mochat.models.llm import load_llm
from mochat.skeleton import (
    SMPL22,
    ActionSpan,
    HumanML3DCorpus,
    MotionRecord,
    mirror_joints,
    normalize,
)
from mochat.skeleton.corpus import write_record
from mochat.synth import SynthConfig, write_corpus
from training.lm import LMRecipe, epoch_order, sample_groups, training_rows
from training.lm_data import (
    GAP_BLANK,
    MIRROR_SUFFIX,
    blanked_action,
    collate,
    encode_corpus,
    first_turn,
    gap_kinds,
    kind_groups,
    load_record,
    mirror_dialogue,
    read_dialogues,
    row_features,
    span_rows,
    swap_other_sides,
    turn_spans,
)
from training.lm_eval import caption_refs


def test_mirror_dialogue_swaps_sides_and_keeps_the_span():
    row = {"id": "temporal-M1-0", "motion_id": "M1", "task": "temporal", "span": [3, 9],
           "conversations": [{"from": "human", "value": "<skeleton>\nWhen does the person "
                                                        "kick with the left foot?"},
                             {"from": "gpt", "value": "From frame 3 to frame 9."}]}
    out = mirror_dialogue(row)
    assert out["motion_id"] == "M1" + MIRROR_SUFFIX and out["id"] == "temporal-M1-0~mirror"
    assert out["conversations"][0]["value"].endswith("kick with the right foot?")
    assert out["conversations"][1]["value"] == "From frame 3 to frame 9."
    assert out["span"] == [3, 9] and row["motion_id"] == "M1"  # the original is untouched
    with pytest.raises(DataFormatError, match="no motion to mirror"):
        mirror_dialogue({"id": "general-7", "motion_id": None, "conversations": []})


def test_mirror_ids_encode_the_mirrored_motion(corpus):
    torch.manual_seed(0)
    encoder = build_encoder("jgse", encoder_tiny(), SMPL22).eval()
    motion_id = HumanML3DCorpus(corpus).ids("train")[0]
    feats = encode_corpus(encoder, corpus, [motion_id, motion_id + MIRROR_SUFFIX],
                          progress=False)
    joints = mirror_joints(HumanML3DCorpus(corpus).load(motion_id).joints, SMPL22)
    x = torch.from_numpy(normalize(joints, SMPL22))[None]  # (1, T, J, 3)
    with torch.no_grad():
        expected = encoder(x, torch.ones(x.shape[:2], dtype=torch.bool))[0]
    torch.testing.assert_close(feats[motion_id + MIRROR_SUFFIX], expected, atol=1e-5,
                               rtol=1e-4)
    assert not torch.allclose(feats[motion_id], expected, atol=1e-3)


def test_encode_corpus_keeps_no_autograd_graph(corpus):
    # the encoder is frozen by training, but a freshly loaded one still requires grad: a
    # feature that kept its graph would hold every activation of the corpus in memory
    encoder = build_encoder("jgse", encoder_tiny(), SMPL22).eval()
    motion_id = HumanML3DCorpus(corpus).ids("train")[0]
    feats = encode_corpus(encoder, corpus, [motion_id], progress=False)
    assert not feats[motion_id].requires_grad and feats[motion_id].grad_fn is None


def test_load_record_of_a_mirror_id_swaps_sides_everywhere(corpus):
    motion_id = HumanML3DCorpus(corpus).ids("train")[0]
    record = load_record(HumanML3DCorpus(corpus), motion_id)
    mirrored = load_record(HumanML3DCorpus(corpus), motion_id + MIRROR_SUFFIX)
    np.testing.assert_array_equal(mirrored.joints, mirror_joints(record.joints, SMPL22))
    assert [c.text for c in mirrored.captions] == [mirror_text(c.text) for c in record.captions]
    swap = {"left": "right", "right": "left", "none": "none", "both": "both"}
    assert [(s.action, swap[s.side], s.start) for s in record.spans] == \
        [(s.action, s.side, s.start) for s in mirrored.spans]


def _gap(motion_id: str, question: str) -> dict:
    return {"id": f"g-{motion_id}", "motion_id": motion_id, "task": "spatial_gap", "span": None,
            "conversations": [{"from": "human", "value": f"<skeleton>\n{question} Complete "
                               "the content in brackets with left or right."},
                              {"from": "gpt", "value": "Right."}]}


def _kick_turn_kick(root) -> None:
    """Motion 'A' of a corpus at `root`: a left kick, a left turn, then a right kick."""
    for sub in ("new_joints", "texts", "spans"):
        (root / sub).mkdir()
    kick = ("kick", "does a kick with the {side} foot", "leg")
    turn = ("turn", "turns {side}", "body")
    actions = [(kick, "left", 0, 20), (turn, "left", 25, 50), (kick, "right", 55, 80)]
    spans = [ActionSpan(a, p.format(side=side), part, side, s, e)
             for (a, p, part), side, s, e in actions]
    write_record(root, MotionRecord("A", np.zeros((90, 22, 3)), [], spans))


# gap questions on motion 'A', by what they blank
FIRST_KICK = ("a person does a kick with the ( ) foot, turns left, then does a kick with the "
              "right foot.")
SECOND_KICK = ("a person does a kick with the left foot, turns left, then does a kick with "
               "the ( ) foot.")
THE_TURN = ("a person does a kick with the left foot, turns ( ), then does a kick with the "
            "right foot.")  # the turn itself starts before the body has turned


def test_gap_kinds_find_the_blanked_occurrence_and_its_turn(tmp_path):
    _kick_turn_kick(tmp_path)
    first, second, turned = _gap("A", FIRST_KICK), _gap("A", SECOND_KICK), _gap("A", THE_TURN)
    rows = [first, second, turned, mirror_dialogue(first), mirror_dialogue(second)]
    assert blanked_action(first_turn(second)[0], load_record(
        HumanML3DCorpus(tmp_path), "A").spans or []).start == 55
    unknown = _gap("A", "a person waves the ( ) hand.")  # no wave in motion A
    caption = {**first, "task": "basic"}
    # the second kick (and its mirror image) follows the turn; the turn itself does not
    kinds = gap_kinds([*rows, unknown, caption], tmp_path)
    assert kinds == ["other", "after_turn", "turn", "other", "after_turn", None, None]
    assert kind_groups(kinds) == {"after_turn": [1, 4], "turn": [2], "other": [0, 3],
                                  "unknown": [5, 6]}


def test_training_rows_repeat_each_gap_kind_by_its_factor(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    _kick_turn_kick(corpus)
    rows = [_gap("A", FIRST_KICK), _gap("A", THE_TURN),
            {**_gap("A", "a person does a kick."), "task": "basic"}, _gap("A", SECOND_KICK)]
    for k, row in enumerate(rows):
        row["id"] = f"row-{k}"
    dialogues = tmp_path / "dialogues.jsonl"
    dialogues.write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = LMRecipe(stage="finetune", corpus=str(corpus), dialogues=str(dialogues),
                      out_dir=str(tmp_path / "out"), init="x", mirror=["spatial_gap"],
                      gap_oversample={"turn": 3, "after_turn": 2})
    ids = Counter(r["id"] for r in training_rows(recipe))
    # the turn question and its mirror image three times each, the one after the turn twice,
    # everything else once
    assert ids == {"row-0": 1, "row-0~mirror": 1, "row-1": 3, "row-1~mirror": 3, "row-2": 1,
                   "row-3": 2, "row-3~mirror": 2}


def test_variants_of_a_row_share_their_batch_and_copies_pair_with_copies():
    ids = ("a", "b", "c", "b", "a~mirror", "b~mirror", "b~mirror", "b~swapped~mirror")
    rows = [{"id": i} for i in ids]
    groups = sample_groups(rows, pair_variants=True)
    # "c" has no variant; each copy of "b" goes with one copy of each of its variants
    assert sorted(map(sorted, groups)) == [[0, 4], [1, 5, 7], [2], [3, 6]]
    assert sample_groups(rows, pair_variants=False) == [[i] for i in range(len(ids))]
    order = epoch_order(groups, random.Random(0))
    assert sorted(order) == list(range(len(ids)))
    for group in groups:  # each group side by side in every epoch
        at = sorted(order.index(i) for i in group)
        assert at == list(range(at[0], at[0] + len(group)))


def test_swapped_gap_question_keeps_answer_and_motion_but_not_the_other_sides():
    row = _gap("A", "a person kicks with the ( ) leg, then waves the right hand.")
    row["id"] = "g"
    swapped = swap_other_sides(row)
    assert swapped is not None and swapped["id"] == "g~swapped"
    assert swapped["motion_id"] == row["motion_id"]
    assert swapped["conversations"][1] == row["conversations"][1]
    question = swapped["conversations"][0]["value"]
    assert "waves the left hand" in question and "with left or right" in question
    assert GAP_BLANK in question
    alone = _gap("A", "a person kicks with the ( ) leg.")
    assert swap_other_sides(alone) is None  # nothing else says a side
    # a session: only its gap question is swapped, the answers and other questions kept
    caption = {"from": "human", "value": "<skeleton>\nDescribe the left arm's motion."}
    told = {"from": "gpt", "value": "It waves the right hand."}
    session = {**row, "task": "multiturn",
               "conversations": [caption, told, *row["conversations"]]}
    turns = swap_other_sides(session)["conversations"]  # type: ignore[index]
    assert turns[:2] == [caption, told] and turns[2:] == swapped["conversations"]


def test_training_rows_swap_gap_sides_before_mirroring(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    _kick_turn_kick(corpus)
    row = {**_gap("A", "a person kicks with the ( ) leg, then waves the right hand."),
           "id": "g"}
    dialogues = tmp_path / "dialogues.jsonl"
    dialogues.write_text(json.dumps(row) + "\n")
    recipe = LMRecipe(stage="finetune", corpus=str(corpus), dialogues=str(dialogues),
                      out_dir=str(tmp_path / "out"), init="x", mirror=["spatial_gap"],
                      swap_gap_sides=True)
    assert sorted(r["id"] for r in training_rows(recipe)) == [
        "g", "g~mirror", "g~swapped", "g~swapped~mirror"]


@pytest.fixture(scope="module")
def timed(tmp_path_factory) -> tuple:
    """8 motions (seed 3); caption 1 of train motion S000000 (99 frames) gets #1.0#2.5, so
    its dialogues are about frames 20..50 (31 frames) and its neighbours' about all 99."""
    root = tmp_path_factory.mktemp("timed")
    write_corpus(root / "corpus", SynthConfig(motions=8, seed=3))
    path = root / "corpus" / "texts" / "S000000.txt"
    lines = path.read_text().splitlines()
    lines[1] = lines[1].rsplit("#", 2)[0] + "#1.0#2.5"
    path.write_text("\n".join(lines) + "\n")
    build_dialogues(root / "corpus", root / "dialogues", general=False)
    rows = [r for r in read_dialogues(root / "dialogues", "train", tasks=["basic"])
            if r["motion_id"] == "S000000"]
    return root / "corpus", rows, [line.split("#")[0] for line in lines]


def test_collate_shows_a_segment_dialogue_its_frames_only(timed, tiny_llm_dir):
    _, rows, _ = timed
    assert [r.get("frames") for r in rows] == [None, [20, 50], None]
    # frame t's features are all t: what a row is given names its frames
    features = {"S000000": torch.arange(99.0)[:, None].repeat(1, 4)}  # (T, D_m) = (99, 4)
    _, tokenizer = load_llm(str(tiny_llm_dir))
    tokenizer.add_tokens([SKELETON_TOKEN], special_tokens=True)
    batch = collate(rows, features, tokenizer, pool_frames=4)
    assert batch.feature_mask.sum(1).tolist() == [99, 31, 99]
    assert batch.features[1, :31, 0].tolist() == list(range(20, 51))
    assert batch.features[0, :, 0].tolist() == list(range(99))  # whole rows as before
    skeleton = tokenizer.convert_tokens_to_ids(SKELETON_TOKEN)
    # motion tokens: ceil(99 / 4) = 25 for the whole motion, ceil(31 / 4) = 8 for 20..50
    assert (batch.input_ids == skeleton).sum(1).tolist() == [25, 8, 25]


def test_row_features_refuse_frames_outside_the_motion():
    features = {"M1": torch.zeros(10, 4)}
    row = {"id": "basic-M1-1", "motion_id": "M1", "frames": [5, 10]}  # last frame is 9
    with pytest.raises(DataFormatError, match=r"basic-M1-1.*\[5, 10\] outside .* 10 frames"):
        row_features(row, features)
    assert row_features({**row, "frames": [5, 9]}, features).shape == (5, 4)  # 5..9
    assert row_features({"motion_id": "M1"}, features) is features["M1"]


def test_a_segment_caption_is_scored_against_its_own_segment(timed):
    corpus, rows, captions = timed
    # the whole-motion rows against captions 0 and 2, the timed row against caption 1 only
    refs = [caption_refs(HumanML3DCorpus(corpus), r) for r in rows]
    assert refs == [[captions[0], captions[2]], [captions[1]], [captions[0], captions[2]]]


def _session(spans):
    """A session about motion M1 with one answer per entry of `spans`."""
    turns = []
    for k, span in enumerate(spans):
        question = f"When does the person do action {k}?" if span else f"Which side {k}?"
        answer = f"From frame {span[0]} to frame {span[1]}." if span else "Left."
        turns += [{"from": "human", "value": ("<skeleton>\n" if k == 0 else "") + question},
                  {"from": "gpt", "value": answer}]
    return {"id": "multiturn-M1-0", "motion_id": "M1", "task": "multiturn",
            "conversations": turns, "span": spans[-1], "spans": spans}


def test_turn_spans_of_both_formats():
    assert turn_spans(_session([[2, 5], None, [7, 9]])) == [[2, 5], None, [7, 9]]
    old = {"conversations": _session([None, None])["conversations"], "span": [3, 4]}
    assert turn_spans(old) == [None, [3, 4]]  # an older row: its span is the last answer's
    with pytest.raises(DataFormatError, match="2 spans for 3 answers"):
        turn_spans({**_session([None, None, None]), "spans": [None, None]})
    with pytest.raises(DataFormatError, match="not its `span`"):
        turn_spans({**_session([[1, 2], None]), "span": [1, 2]})


def test_span_rows_cut_the_session_after_each_earlier_span():
    row = _session([[2, 5], None, [7, 9], None])
    extra = span_rows(row)
    # the last answer's span is the row's own; the earlier two get a row each
    assert [r["span"] for r in extra] == [[2, 5], [7, 9]]
    assert [len(r["conversations"]) for r in extra] == [2, 6]
    assert [r["id"] for r in extra] == ["multiturn-M1-0@1", "multiturn-M1-0@3"]
    assert all(r["train_turns"] == "last" and turn_spans(r)[-1] == r["span"] for r in extra)
    assert span_rows(_session([None, [1, 2]])) == []


def test_collate_trains_the_head_on_the_last_answer_of_a_session(tiny_llm_dir):
    _, tokenizer = load_llm(str(tiny_llm_dir))
    tokenizer.add_tokens([SKELETON_TOKEN], special_tokens=True)
    # the third row: [[2, 5], None, [7, 9], None] cut after its third answer
    cut = span_rows(_session([[2, 5], None, [7, 9], None]))[1]
    rows = [_session([[2, 5], None, [7, 9]]), _session([[2, 5], [7, 9], None]), cut]
    batch = collate(rows, {"M1": torch.zeros(16, 4)}, tokenizer, pool_frames=4)
    assert batch.span_mask.tolist() == [True, False, True]
    assert batch.spans[0].tolist() == [7.0, 9.0] and batch.spans[2].tolist() == [7.0, 9.0]

    def trained(i):  # the trained text of row i
        return tokenizer.decode(batch.labels[i][batch.labels[i] != IGNORE_INDEX])
    assert trained(0).count("From frame") == 2 and "Left." in trained(0)
    # the cut row reads the session up to its third answer and trains that answer alone
    assert len(cut["conversations"]) == 6
    assert "From frame 7 to frame 9." in trained(2)
    assert "Left." not in trained(2) and "frame 2 to" not in trained(2)
    assert batch.input_ids[2].tolist()[:batch.attention_mask[2].sum()] == \
        batch.input_ids[0].tolist()[:batch.attention_mask[2].sum()]  # the same text

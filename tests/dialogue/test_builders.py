import random

import pytest

from mochat.dialogue import builders as bld
from mochat.metrics.files import parse_span


@pytest.mark.parametrize(
    ("caption", "subject", "rest"),
    [
        ("A man waves.", "A man", "waves."),
        ("someone jumps", "someone", "jumps"),
        ("walks forward", "the person", "walks forward"),  # no subject: a default one
    ],
)
def test_split_subject(caption, subject, rest):
    assert bld.split_subject(caption) == (subject, rest)


def test_split_clauses():
    text = "throws a punch with the right hand and waves, then turns left after that sits."
    assert bld.split_clauses(text) == [
        "throws a punch with the right hand", "waves", "turns left", "sits"]


def test_body_parts_with_synonyms():
    assert bld.body_parts_in("he stomps his feet and bends the knees") == ["foot", "leg"]
    assert bld.body_parts_in("claps his palms, rotates the hips") == ["hand", "torso"]
    assert bld.body_parts_in("walks forward") == []


def test_multi_part_caption_is_split_per_part():
    caption = ("a person kicks with the left foot, raises the right arm and lowers it, "
               "then spins around.")
    # "lowers it" refers back to the arm; "spins around" names no part and is left out
    assert bld.part_answers(caption) == {
        "foot": "A person kicks with the left foot.",
        "arm": "A person raises the right arm and lowers it.",
    }


def test_spatial_dialogue_has_one_turn_per_part():
    rng = random.Random(0)
    (dialogue,) = bld.spatial_dialogues("M1", ["a man kicks with his foot and waves a hand."],
                                        rng)
    turns = dialogue["conversations"]
    assert [t["from"] for t in turns] == ["human", "gpt", "human", "gpt"]
    assert turns[0]["value"].startswith("<skeleton>\n") and "foot" in turns[0]["value"]
    assert "<skeleton>" not in turns[2]["value"] and "hand" in turns[2]["value"]
    assert turns[3]["value"] == "A man waves a hand."


def test_basic_dialogues_deduplicate_captions():
    rng = random.Random(0)
    out = bld.basic_dialogues("M1", ["a person walks.", "a person walks.", "someone runs."],
                              rng)
    assert [d["conversations"][1]["value"] for d in out] == ["a person walks.", "someone runs."]
    assert all(d["task"] == "basic" and d["span"] is None for d in out)


def test_a_caption_of_a_segment_gives_dialogues_with_its_frames():
    captions = ["a person walks.", "a person walks.", "a person walks.", "he waves a hand."]
    frames = [None, None, (20, 50), (20, 50)]
    # the same text over other frames is another caption: 3 distinct, not 2
    basic = bld.basic_dialogues("M1", captions, random.Random(0), frames=frames)
    assert [(d["id"], d.get("frames")) for d in basic] == [
        ("basic-M1-0", None), ("basic-M1-1", [20, 50]), ("basic-M1-2", [20, 50])]
    assert "frames" not in basic[0]  # a whole-motion row has no key at all
    (spatial,) = bld.spatial_dialogues("M1", captions, random.Random(0), frames=frames)
    assert spatial["frames"] == [20, 50]  # only "he waves a hand." names a body part
    gaps = bld.gap_candidates("M1", ["raise the left hand."], frames=[(3, 9)])
    assert [d["frames"] for d in bld.gap_dialogues(gaps)] == [[3, 9]]
    with pytest.raises(ValueError, match="4 captions but 1 segments"):
        bld.basic_dialogues("M1", captions, random.Random(0), frames=[None])


def test_gap_candidates_blank_each_side_word():
    items = bld.gap_candidates("M1", ["raise the left hand, then kick right away with the "
                                      "right foot"])
    # "right away" is not a side; two side words remain
    assert [i.answer for i in items] == ["left", "right"]
    assert items[0].question.startswith("raise the ( ) hand,")
    assert items[1].question.endswith(" the ( ) foot. Complete the content in brackets "
                                      "with left or right.")


def test_balance_gaps_keeps_equal_sides():
    items = [bld.GapItem(f"M{k}", "the left arm", 4, 8) for k in range(5)]
    items += [bld.GapItem(f"R{k}", "the right arm", 4, 9) for k in range(2)]
    kept = bld.balance_gaps(items, seed=0)
    assert sorted(i.answer for i in kept) == ["left", "left", "right", "right"]
    answers = [d["conversations"][1]["value"] for d in bld.gap_dialogues(kept)]
    assert sorted(answers) == ["Left.", "Left.", "Right.", "Right."]


def test_temporal_answer_parses_back_to_the_span():
    rng = random.Random(0)
    (d,) = bld.temporal_dialogues("M1", [("a person jumps", 12, 40)], rng)
    assert d["span"] == [12, 40]
    assert "a person jumps" in d["conversations"][0]["value"]
    assert parse_span(d["conversations"][1]["value"]) == (12.0, 40.0)


def test_mirror_text_swaps_side_words_only():
    text = "Left. Raise the RIGHT hand right away, then step left; all right."
    # case kept; "right away" and "all right" are not sides
    assert bld.mirror_text(text) == ("Right. Raise the LEFT hand right away, then step right; "
                                     "all right.")
    assert bld.mirror_text(bld.mirror_text(text)) == text


def test_mirror_image_of_a_gap_question_keeps_its_instruction():
    # a mirrored question that read "right or left" would tell the model it is mirrored,
    # and the model could keep any side prior of the text through the mirror images
    caption = "a man kicks with his left leg and waves the right hand."
    question = bld.GapItem("M", caption, 21, 25).question
    assert question.endswith("his ( ) leg and waves the right hand. Complete the content in "
                             "brackets with left or right.")
    assert bld.mirror_text(question) == question.replace("the right hand", "the left hand")
    assert bld.mirror_text("Which hand, right or left? The left one.") == (
        "Which hand, right or left? The right one.")

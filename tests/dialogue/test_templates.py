from mochat.dialogue import templates as tpl


def test_template_counts_match_the_paper():
    # supplementary Tab. 9: 11 basic, 4 spatial multi-turn, 1 gap-filling, 3 temporal
    assert len(tpl.BASIC_INSTRUCTIONS) == 11
    assert len(set(tpl.BASIC_INSTRUCTIONS)) == 11
    assert len(tpl.SPATIAL_INSTRUCTIONS) == 4
    assert len(tpl.TEMPORAL_INSTRUCTIONS) == 3
    assert tpl.BODY_PARTS == ("foot", "leg", "hand", "arm", "torso")


def test_placeholders():
    assert all("{body_part}" in t for t in tpl.SPATIAL_INSTRUCTIONS)
    assert all("{motion}" in t for t in tpl.TEMPORAL_INSTRUCTIONS)
    assert tpl.TEMPORAL_ANSWER.format(start=20, end=33) == "From frame 20 to frame 33."
    assert tpl.GAP_FILLING_INSTRUCTION.format(motion_with_gap="raise the ( ) hand.") == (
        "raise the ( ) hand. Complete the content in brackets with left or right.")
    assert tpl.with_skeleton("Describe it.") == "<skeleton>\nDescribe it."


def test_the_not_in_motion_answer_is_recognised():
    assert tpl.says_not_in_motion(tpl.NOT_IN_MOTION)
    assert tpl.says_not_in_motion("  that doesn't happen in this motion ")
    assert not tpl.says_not_in_motion("From frame 4 to frame 11.")
    assert not tpl.says_not_in_motion("That does not happen in this motion, but a jump does.")
    # the session templates fill both fields; the presence answer is a yes
    assert tpl.PRESENCE_INSTRUCTIONS[0].format(action="jump up", motion="jumps up") == \
        "Did the person jump up?"
    assert tpl.PRESENCE_ANSWER.format(motion="jumps up") == "Yes, the person jumps up."

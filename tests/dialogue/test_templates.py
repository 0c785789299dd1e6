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

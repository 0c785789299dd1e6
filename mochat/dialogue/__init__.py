"""Instruction dialogues of MoChat: templates (paper Tab. 9), builders, the general set."""

from mochat.dialogue.builders import (
    GapItem,
    balance_gaps,
    basic_dialogues,
    body_parts_in,
    gap_candidates,
    gap_dialogues,
    mirror_text,
    part_answers,
    side_words,
    spatial_dialogues,
    split_clauses,
    split_subject,
    temporal_dialogues,
)

__all__ = [
    "GapItem", "balance_gaps", "basic_dialogues", "body_parts_in", "gap_candidates",
    "gap_dialogues", "mirror_text", "part_answers", "side_words", "spatial_dialogues",
    "split_clauses", "split_subject", "temporal_dialogues",
]

"""Instruction data for MoChat training: dialogues JSONL + frozen encoder features.

The encoder is frozen in both stages, so features are computed once per motion and kept in
memory; batches then cost only the LLM. Dialogue lines are those `mochat dialogues` writes:
{"id", "motion_id", "task", "conversations": [{"from", "value"}...], "span": [s, e] | null},
and "frames": [first, last] on a dialogue about one segment of the motion (a HumanML3D
caption with start/end times): `row_features` then gives the model those frames only.
`span` is the ground truth of the last answer: the head reads one span per sequence, at
its last answer. A multiturn row also has "spans", one entry per answer ([s, e] or null,
`span` = its last); `span_rows` makes one more row per earlier answer with a span, cut
after that answer and trained on it alone ("train_turns": "last"), so the head also learns
the spans of answers that come before the end of a session.

Mirror augmentation: `mirror_dialogue` turns a row into one about the motion's mirror image
(motion id + MIRROR_SUFFIX, side words swapped); `load_record` turns such an id into the
mirrored corpus record, which `encode_corpus` encodes. It takes away side priors of the
action words ("salutes" mostly with the right hand), not cues between side words: a mirror
image swaps a caption's other side words with the answer, so "the opposite of the other
side named" survives it. `swap_other_sides` takes that one away (the `swap_gap_sides`
recipe option), and `training.lm_eval` scores how often an answer follows the motion.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor
from tqdm import tqdm
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from mochat.dialogue.rows import (  # re-exported: training's modules import them here
    GAP_BLANK,  # noqa: F401 - re-exported
    GAP_KINDS,  # noqa: F401 - re-exported
    MIRROR_SUFFIX,  # noqa: F401 - re-exported
    blanked_action,  # noqa: F401 - re-exported
    first_turn,  # noqa: F401 - re-exported
    gap_kinds,  # noqa: F401 - re-exported
    kind_groups,  # noqa: F401 - re-exported
    load_record,
    mirror_dialogue,  # noqa: F401 - re-exported
    read_dialogues,  # noqa: F401 - re-exported
    swap_other_sides,  # noqa: F401 - re-exported
    variant_base,  # noqa: F401 - re-exported
)
from mochat.errors import DataFormatError
from mochat.models.chat_format import (
    IGNORE_INDEX,
    encode_chat,
    parse_span,
    replace_span,
    to_messages,
)
from mochat.models.encoder import SkeletonEncoder
from mochat.skeleton import (
    HumanML3DCorpus,
    normalize,
)


@torch.no_grad()
def encode_corpus(encoder: SkeletonEncoder, corpus_dir: str | Path, motion_ids: Iterable[str],
                  *, batch_size: int = 32, progress: bool = True) -> dict[str, Tensor]:
    """motion id -> (T, D_m) frozen encoder features (ids ending in MIRROR_SUFFIX: of the
    mirrored motion)."""
    corpus = HumanML3DCorpus(corpus_dir)
    ids = sorted({m for m in motion_ids if m is not None})
    out: dict[str, Tensor] = {}
    encoder.eval()
    for i in tqdm(range(0, len(ids), batch_size), desc="features", disable=not progress):
        chunk = ids[i:i + batch_size]
        joints = [normalize(load_record(corpus, m).joints, encoder.layout,
                            max_frames=encoder.config.max_frames) for m in chunk]
        frames = [j.shape[0] for j in joints]
        x = torch.zeros(len(chunk), max(frames), *joints[0].shape[1:])
        mask = torch.zeros(len(chunk), max(frames), dtype=torch.bool)
        for k, j in enumerate(joints):
            x[k, :frames[k]], mask[k, :frames[k]] = torch.from_numpy(j), True
        feats = encoder(x, mask)
        for k, m in enumerate(chunk):
            out[m] = feats[k, :frames[k]].clone()
    return out


@dataclass
class Batch:
    features: Tensor  # (B, T, D_m)
    feature_mask: Tensor  # (B, T)
    input_ids: Tensor  # (B, L)
    attention_mask: Tensor  # (B, L)
    labels: Tensor  # (B, L)
    spans: Tensor  # (B, 2) frames
    span_mask: Tensor  # (B,)


def _answers_with_frame_tokens(row: dict) -> list[dict]:
    """The row's turns with each answer's 'from frame S to frame E' as frame-ID tokens."""
    return [{**turn, "value": replace_span(turn["value"], *parsed, frame_tokens=True)}
            if turn.get("from") == "gpt" and (parsed := parse_span(turn["value"])) else turn
            for turn in row["conversations"]]


def row_features(row: dict, features: dict[str, Tensor]) -> Tensor:
    """(T, D_m) features a dialogue is about: its motion's, only frames first..last
    (inclusive) of a row with "frames". The features were computed over the whole motion,
    so the segment's frames are sliced out of them, not encoded on their own."""
    feats = features[row["motion_id"]]
    if row.get("frames") is None:
        return feats
    first, last = (int(v) for v in row["frames"])
    if not 0 <= first <= last < feats.shape[0]:
        raise DataFormatError(f"dialogue {row.get('id')!r}: frames [{first}, {last}] outside "
                              f"its motion's {feats.shape[0]} frames")
    return feats[first:last + 1]


def _is_answer(turn: dict) -> bool:
    return turn.get("from", turn.get("role")) in ("gpt", "assistant")


def turn_spans(row: dict) -> list[list[int] | None]:
    """One ground-truth span (or None) per answer of a row: its "spans", or for a row of
    the single-span format its "span" on the last answer. Checked against the answers."""
    answers = sum(map(_is_answer, row["conversations"]))
    spans = row.get("spans")
    if spans is None:
        return [*[None] * (answers - 1), row.get("span")] if answers else []
    if len(spans) != answers or spans[-1] != row.get("span"):
        raise DataFormatError(f"dialogue {row.get('id')!r}: {len(spans)} spans for {answers} "
                              "answers, or its last is not its `span`")
    return list(spans)


def span_rows(row: dict) -> list[dict]:
    """Rows that train the head on each earlier answer of `row` with a span: the dialogue
    cut after that answer, that span its `span`, only that answer trained (the last one's
    is `row` itself)."""
    spans = turn_spans(row)
    out, answers = [], 0
    for k, turn in enumerate(row["conversations"]):
        if not _is_answer(turn):
            continue
        answers += 1
        if answers < len(spans) and spans[answers - 1] is not None:
            out.append({**row, "id": f"{row.get('id')}@{answers}",
                        "conversations": row["conversations"][:k + 1],
                        "span": spans[answers - 1], "spans": spans[:answers],
                        "train_turns": "last"})
    return out


def _last_answer_only(labels: list[int]) -> list[int]:
    """Labels with every answer but the last masked: its run of trained tokens is kept."""
    start = len(labels)
    while start > 0 and labels[start - 1] == IGNORE_INDEX:  # after the answer
        start -= 1
    while start > 0 and labels[start - 1] != IGNORE_INDEX:  # the answer itself
        start -= 1
    return [IGNORE_INDEX] * start + labels[start:]


def collate(rows: Sequence[dict], features: dict[str, Tensor],
            tokenizer: PreTrainedTokenizerBase, pool_frames: int, *,
            frame_tokens: bool = False) -> Batch:
    """frame_tokens: answers name frames as `<frameid_N>` tokens (the CFT variant). The
    head's target is each row's last answer's span (`turn_spans`); a row with
    "train_turns": "last" (`span_rows`) trains that answer only."""
    width_m = next(iter(features.values())).shape[1]
    no_motion = torch.zeros(0, width_m)
    feats = [no_motion if r["motion_id"] is None else row_features(r, features) for r in rows]
    frames = [f.shape[0] for f in feats]
    turns = [_answers_with_frame_tokens(r) if frame_tokens else r["conversations"]
             for r in rows]
    chats = [encode_chat(tokenizer, to_messages(t), num_motion_tokens=-(-n // pool_frames))
             for t, n in zip(turns, frames, strict=True)]
    width = max(len(c.input_ids) for c in chats)
    b = len(rows)
    batch = Batch(torch.zeros(b, max(frames), width_m),
                  torch.zeros(b, max(frames), dtype=torch.bool),
                  torch.full((b, width), tokenizer.pad_token_id or 0, dtype=torch.long),
                  torch.zeros(b, width, dtype=torch.long),
                  torch.full((b, width), IGNORE_INDEX, dtype=torch.long),
                  torch.zeros(b, 2), torch.zeros(b, dtype=torch.bool))
    for i, (row, feat, chat) in enumerate(zip(rows, feats, chats, strict=True)):
        n = len(chat.input_ids)
        batch.features[i, :frames[i]], batch.feature_mask[i, :frames[i]] = feat, True
        batch.input_ids[i, :n] = torch.tensor(chat.input_ids)
        batch.attention_mask[i, :n] = 1
        labels = _last_answer_only(chat.labels) if row.get("train_turns") == "last" \
            else chat.labels
        batch.labels[i, :n] = torch.tensor(labels)
        span = (turn_spans(row) or [None])[-1]
        if span is not None:
            batch.spans[i] = torch.tensor([float(v) for v in span])
            batch.span_mask[i] = True
    return batch

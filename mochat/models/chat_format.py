"""Conversations -> token ids and labels, through the LLM's own chat template.

The template is rendered one message at a time; each assistant answer is the text that the
next rendering adds after the generation prompt, so answers (and their end-of-turn token)
carry loss while system, user and motion tokens are masked with -100. This works for any
tokenizer with a chat template (SmolLM2's ChatML, or the Vicuna fallback).
The single `<skeleton>` placeholder is expanded to one slot per motion token.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from transformers.tokenization_utils_base import PreTrainedTokenizerBase

SKELETON_TOKEN = "<skeleton>"
IGNORE_INDEX = -100
# Kept short: it is part of every training sequence on a CPU budget.
SYSTEM_PROMPT = ("You are MoChat. You watch skeleton motion and tell what the person does, "
                 "with which body part and side, and in which frames.")
_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
          "system": "system"}
_SPAN_RE = re.compile(r"from\s+(?:frame\s*)?<?(?:frameid_)?(\d+)>?\s+to\s+(?:frame\s*)?"
                      r"<?(?:frameid_)?(\d+)>?", re.IGNORECASE)


def frame_token(i: int) -> str:
    return f"<frameid_{i}>"


def parse_span(text: str) -> tuple[int, int] | None:
    """'From frame 20 to frame 33.' (or '<frameid_20>') -> (20, 33); None when absent."""
    match = _SPAN_RE.search(text)
    if match is None:
        return None
    start, end = int(match.group(1)), int(match.group(2))
    return (start, end) if start <= end else (end, start)


def replace_span(text: str, start: int, end: int, *, frame_tokens: bool = False) -> str:
    """Rewrite the first 'from frame S to frame E' of `text` with the given frames (the
    regression head's span), keeping the text's capitalisation; no span, no change.

    frame_tokens: write 'from <frameid_S> to <frameid_E>' (the CFT answer format).
    """
    def sub(match: re.Match[str]) -> str:
        word = "From" if match.group(0)[0].isupper() else "from"
        if frame_tokens:
            return f"{word} {frame_token(start)} to {frame_token(end)}"
        return f"{word} frame {start} to frame {end}"
    return _SPAN_RE.sub(sub, text, count=1)


def to_messages(turns: Sequence[Mapping[str, str]], system: str | None = SYSTEM_PROMPT
                ) -> list[dict[str, str]]:
    """LLaVA-style {'from','value'} or {'role','content'} turns -> chat messages."""
    messages = [{"role": "system", "content": system}] if system else []
    for turn in turns:
        role = _ROLES.get(turn.get("from", turn.get("role", "")))
        if role is None:
            raise ValueError(f"unknown turn role in {dict(turn)!r}; expected human/gpt or "
                             "user/assistant")
        messages.append({"role": role, "content": turn.get("value", turn.get("content", ""))})
    return messages


@dataclass
class EncodedChat:
    input_ids: list[int]
    labels: list[int]


def _render(tokenizer: PreTrainedTokenizerBase, messages: list[dict[str, str]],
            generation_prompt: bool) -> str:
    return str(tokenizer.apply_chat_template(messages, tokenize=False,
                                             add_generation_prompt=generation_prompt))


def encode_chat(tokenizer: PreTrainedTokenizerBase, messages: list[dict[str, str]], *,
                num_motion_tokens: int, generation_prompt: bool = False) -> EncodedChat:
    """Tokenise messages; labels are the assistant answers only.

    With `generation_prompt`, the text ends with the assistant prompt (for inference) and
    a trailing assistant message, if any, is not expected.
    """
    skeleton_id = int(tokenizer.convert_tokens_to_ids(SKELETON_TOKEN))  # type: ignore[arg-type]
    ids: list[int] = []
    labels: list[int] = []
    done = ""

    def add(text: str, trained: bool) -> None:
        piece = tokenizer(text, add_special_tokens=False)["input_ids"]
        expanded: list[int] = []
        for token in piece:
            expanded.extend([token] * num_motion_tokens if token == skeleton_id else [token])
        ids.extend(expanded)
        labels.extend(expanded if trained else [IGNORE_INDEX] * len(expanded))

    for k, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt = _render(tokenizer, messages[:k], True)
        full = _render(tokenizer, messages[:k + 1], False)
        if not prompt.startswith(done) or not full.startswith(prompt):
            raise ValueError("chat template is not prefix-stable; cannot mask answers")
        add(prompt[len(done):], trained=False)
        add(full[len(prompt):], trained=True)
        done = full
    tail = _render(tokenizer, messages, generation_prompt)
    if not tail.startswith(done):
        raise ValueError("chat template is not prefix-stable; cannot mask answers")
    add(tail[len(done):], trained=False)
    if ids.count(skeleton_id) not in (0, num_motion_tokens):
        raise ValueError(f"expected one {SKELETON_TOKEN} placeholder, found "
                         f"{ids.count(skeleton_id) // max(num_motion_tokens, 1)}")
    return EncodedChat(ids, labels)

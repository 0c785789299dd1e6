"""Conversations -> token ids and labels, through the LLM's own chat template.

The template is rendered one message at a time; each assistant answer is the text that the
next rendering adds after the generation prompt, so answers (and their end-of-turn token)
carry loss while system, user and motion tokens are masked with -100. This works for any
(fast) tokenizer with a chat template (SmolLM2's ChatML, or the Vicuna fallback).
The single `<skeleton>` placeholder is expanded to one slot per motion token. Control
tokens come from the template only: typed into a message they are ordinary text, so a
question cannot open a turn of its own.
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


# Other ways a text names frames: "frames 3 to 9", "frame 3-9", "frame 12", "<frameid_5>".
_FRAME_RANGE_RE = re.compile(r"\bframes?\s*(\d+)\s*(?:to|-|–|through|and)\s*(?:frame\s*)?(\d+)",
                             re.IGNORECASE)
_FRAME_MENTION_RE = re.compile(r"\bframes?\s*(?:id\s*)?(\d+)|<frameid_(\d+)>", re.IGNORECASE)


def text_frames(text: str) -> list[int]:
    """Every frame number `text` names: both ends of each 'from S to E' span, then of each
    'frames S to E', then any other 'frame N' / '<frameid_N>'.
    'From frame 3 to frame 9.' -> [3, 9]; 'It ends at frame 200.' -> [200]."""
    frames: list[int] = []
    for pattern in (_SPAN_RE, _FRAME_RANGE_RE):
        for match in pattern.finditer(text):
            frames += [int(match.group(1)), int(match.group(2))]
        text = pattern.sub(" ", text)
    return frames + [int(m.group(1) or m.group(2)) for m in _FRAME_MENTION_RE.finditer(text)]


def span_agrees(text: str, span: tuple[int, int] | None) -> bool:
    """True when the frames `text` names are exactly the span's: [start, end] for a span
    (its first 'from S to E' and no other frame), none at all for no span."""
    frames = text_frames(text)
    if span is None:
        return not frames
    return frames == [int(span[0]), int(span[1])]


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


# Where message k's content sits in a rendering: the template is rendered with these marks
# in place of the contents, so what it adds (control tokens included) is known apart from
# what users typed. Private-use characters: no template touches them.
_MARK = "\ue000{}\ue001"
_MARK_RE = re.compile("\ue000(\\d+)\ue001")
_FRAME_TOKEN_RE = re.compile(r"<frameid_\d+>")


def _render(tokenizer: PreTrainedTokenizerBase, messages: list[dict[str, str]],
            generation_prompt: bool) -> str:
    marked = [{**m, "content": _MARK.format(k)} for k, m in enumerate(messages)]
    return str(tokenizer.apply_chat_template(marked, tokenize=False,
                                             add_generation_prompt=generation_prompt))


class _Encoder:
    """Tokenises pieces of one marked rendering. Text from the template keeps its control
    tokens; message contents never produce one: an added token that the tokenizer finds
    inside a content (typed `<|im_end|>`, a second `<skeleton>`) is re-tokenised as
    ordinary text. The exceptions are the motion placeholder (the first `<skeleton>` of the
    first user message, when the chat has motion) and frame-ID tokens in answers (CFT)."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, messages: list[dict[str, str]],
                 num_motion_tokens: int) -> None:
        self.tokenizer = tokenizer
        self.messages = messages
        self.num_motion_tokens = num_motion_tokens
        self.skeleton_id = int(tokenizer.convert_tokens_to_ids(SKELETON_TOKEN))  # type: ignore[arg-type]
        self.added = set(tokenizer.added_tokens_decoder)
        users = [k for k, m in enumerate(messages) if m["role"] == "user"]
        self.slot_message = users[0] if users and num_motion_tokens > 0 else None
        self.slots = 0  # placeholders found so far

    def encode(self, marked: str) -> list[int]:
        """A piece of a marked rendering -> ids, the placeholder expanded."""
        text, owners = "", []  # owners: (start, end, message index) of each content
        for k, part in enumerate(_MARK_RE.split(marked)):
            if k % 2:
                message = int(part)
                owners.append((len(text), len(text) + len(self.messages[message]["content"]),
                               message))
                text += self.messages[message]["content"]
            else:
                text += part
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids: list[int] = []
        for token, (start, end) in zip(enc["input_ids"], enc["offset_mapping"], strict=True):
            owner = next((m for s, e, m in owners if s <= start and end <= e), None)
            if token not in self.added or owner is None:  # ordinary text, or the template's
                ids.append(token)
            elif token == self.skeleton_id and owner == self.slot_message and not self.slots:
                self.slots += 1
                ids.extend([token] * self.num_motion_tokens)
            elif self._answer_frame(token, owner):
                ids.append(token)
            else:  # typed by a user: its characters as text
                ids.extend(self.tokenizer(text[start:end], add_special_tokens=False,
                                          split_special_tokens=True)["input_ids"])
        return ids

    def _answer_frame(self, token: int, message: int) -> bool:
        """A frame-ID token in an answer: the CFT answer format."""
        name = str(self.tokenizer.convert_ids_to_tokens(token))
        return self.messages[message]["role"] == "assistant" and bool(
            _FRAME_TOKEN_RE.fullmatch(name))


def encode_chat(tokenizer: PreTrainedTokenizerBase, messages: list[dict[str, str]], *,
                num_motion_tokens: int, generation_prompt: bool = False) -> EncodedChat:
    """Tokenise messages; labels are the assistant answers only.

    With `generation_prompt`, the text ends with the assistant prompt (for inference) and
    a trailing assistant message, if any, is not expected. The first `<skeleton>` of the
    first user message is the motion placeholder (num_motion_tokens > 0 needs one); any
    other control token or `<skeleton>` in a message is text (see `_Encoder`). The
    tokenizer's BOS comes first when it has one and the template did not add it (the Vicuna
    fallback): the pooled head reads position 0 as [BOS].
    """
    encoder = _Encoder(tokenizer, messages, num_motion_tokens)
    ids: list[int] = []
    labels: list[int] = []
    done = ""

    def add(marked: str, trained: bool) -> None:
        piece = encoder.encode(marked)
        ids.extend(piece)
        labels.extend(piece if trained else [IGNORE_INDEX] * len(piece))

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
    if num_motion_tokens > 0 and not encoder.slots:
        raise ValueError(f"no {SKELETON_TOKEN} placeholder in the first user message of a "
                         f"chat with motion ({num_motion_tokens} motion tokens)")
    bos = tokenizer.bos_token_id
    if bos is not None and ids[:1] != [bos]:
        ids.insert(0, int(bos))
        labels.insert(0, IGNORE_INDEX)
    return EncodedChat(ids, labels)

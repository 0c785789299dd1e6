"""Inference API: `MoChatPipeline.from_pretrained(DIR).chat(motion, question, history=...)`.

A conversation holds the motion once (the `<skeleton>` placeholder sits in its first user
turn) and appends turns, so a follow-up question sees the earlier ones. Questions from
several conversations can be answered in one batched decode (`answer_batch`), which is what
the LLM service does with its queue.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from mochat.dialogue.templates import TEMPORAL_ANSWER, says_not_in_motion
from mochat.errors import ContextOverflowError, InvalidSkeletonError
from mochat.models.chat_format import (
    IGNORE_INDEX,
    SKELETON_TOKEN,
    encode_chat,
    parse_span,
    replace_span,
    span_agrees,
    to_messages,
)
from mochat.models.generate import Generation, greedy_decode
from mochat.models.mochat import MoChat
from mochat.models.prefix_cache import PrefixCache
from mochat.skeleton import SMPL22, Convention, FrameMap, ModelMotion, SkeletonLayout, normalize
from mochat.skeleton import to_model as adapt_to_model

if TYPE_CHECKING:
    from mochat.continuous import ContinuousDecoder

_WHEN = re.compile(r"\b(when|which frame|what frame|start frame|end frame|frame id|"
                   r"time span|what time|at what point|how long)\b", re.IGNORECASE)
# Longest motion one conversation reads, in model frames (at 20 fps: 3.4 minutes, 1,024
# motion tokens at pool 2); longer inputs are asked about by range.
DEFAULT_MAX_MOTION_FRAMES = 2048
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "mochat-smollm2-synth"


# "And the kick?", "What about the left wave?": a short follow-up that asks again what the
# question before it asked. One naming a side or body part to pick ("which hand") does not.
_ELLIPTIC = re.compile(r"^\s*(?:and|what about|how about)\b(?:\s+\w+){1,5}\s*\?\s*$",
                       re.IGNORECASE)
_WH = re.compile(r"\b(?:which|who|how|where|why|whose|side)\b", re.IGNORECASE)


def asks_when(question: str, history: Sequence[tuple[str, str]] = ()) -> bool:
    """True for temporal-grounding questions ("when ...", "from which frame ..."), and for a
    short follow-up ("And the kick?") right after one: `history`'s last question."""
    if _WHEN.search(question):
        return True
    if not history or not _ELLIPTIC.match(question):
        return False
    rest = re.sub(r"^\s*(?:what|how) about\b", "", question, flags=re.IGNORECASE)
    return not _WH.search(rest) and asks_when(history[-1][0], history[:-1])


@dataclass(frozen=True)
class Span:
    """Frames of the input's own numbering (its rate, not the model's), inclusive; times
    are the instants of those frames, seconds from the input's first frame (so `end_s` is
    the last frame's instant, not one frame later)."""

    start: int
    end: int
    start_s: float
    end_s: float


@dataclass
class ChatAnswer:
    text: str
    span: Span | None
    num_frames: int  # the input's, in its own numbering
    fps: float  # the input's rate
    latency_s: float = 0.0
    first_token_s: float = 0.0
    num_tokens: int = 0
    stopped: bool = False  # `keep` ended its decode early: the text is cut short


@dataclass
class Conversation:
    """One motion's features and the turns so far: [(question, answer), ...]."""

    features: torch.Tensor  # (T, D_m) encoder features at the model's rate; T = 0: no motion
    fps: float = 20.0  # the features' (the model's) rate
    turns: list[tuple[str, str]] = field(default_factory=list)
    frames: FrameMap | None = None  # model frames -> the input's own; None: the same
    motion: ModelMotion | None = None  # how the input was adapted (layout, units, warnings)
    motion_key: str = ""  # names the features (window ids) in prefix-cache keys; optional

    def span(self, start: int, end: int) -> Span:
        """A span in model frames -> the input's own frames and instants."""
        if self.frames is None:
            return Span(start, end, start / self.fps, end / self.fps)
        first, last = self.frames.to_source(start), self.frames.to_source(end)
        return Span(first, last, self.frames.seconds(first), self.frames.seconds(last))

    @property
    def source_frames(self) -> int:
        """Frames of the input in its own numbering."""
        return self.features.shape[0] if self.frames is None else self.frames.source_frames

    @property
    def source_fps(self) -> float:
        return self.fps if self.frames is None else self.frames.source_fps

    def with_turns(self, turns: Sequence[tuple[str, str]]) -> Conversation:
        return Conversation(self.features, self.fps, [*turns], self.frames, self.motion,
                            self.motion_key)

    def messages(self, question: str | None) -> list[dict[str, str]]:
        turns = []
        pending = [*self.turns, (question, None)] if question is not None else self.turns
        has_motion = self.features.shape[0] > 0
        for i, (q, a) in enumerate(pending):
            first = i == 0 and has_motion
            turns.append({"from": "human", "value": f"{SKELETON_TOKEN}\n{q}" if first else q})
            if a is not None:
                turns.append({"from": "gpt", "value": a})
        return to_messages(turns)


class MoChatPipeline:
    def __init__(self, model: MoChat, *, max_new_tokens: int = 48,
                 max_motion_frames: int = DEFAULT_MAX_MOTION_FRAMES) -> None:
        self.model = model.eval()
        self.max_new_tokens = max_new_tokens
        self.max_motion_frames = max_motion_frames
        tok = model.tokenizer
        self.stop_ids: set[int] = {int(i) for i in (tok.eos_token_id,  # type: ignore[arg-type]
                                   tok.convert_tokens_to_ids("<|im_end|>")) if i is not None}
        self.stop_ids.discard(tok.unk_token_id)

    @classmethod
    def from_pretrained(cls, directory: str | Path = DEFAULT_MODEL_DIR, *,
                        verbose: bool = False, **kwargs: object) -> MoChatPipeline:
        """Load a checkpoint quietly (no progress bar, no library notices) unless `verbose`."""
        model = MoChat.from_pretrained(directory, verbose=verbose)
        return cls(model, **kwargs)  # type: ignore[arg-type]

    # -- motion -----------------------------------------------------------------------------
    @property
    def fps(self) -> float:
        """The rate the checkpoint's encoder reads; every input is resampled to it."""
        return float(self.model.encoder.config.fps)

    @torch.no_grad()
    def features(self, joints: np.ndarray, layout: SkeletonLayout = SMPL22) -> torch.Tensor:
        """Model-layout joints (T, J, 3) at the model's rate -> features (T, D_m).

        A motion longer than the encoder's window is encoded in windows that overlap by
        `context` frames, each normalised on its own (as the live service's windows are);
        a frame takes its feature from the window that saw the most of its past.
        """
        encoder = self.model.encoder
        window = encoder.config.max_frames
        total = joints.shape[0]
        if total <= window:
            return encoder.encode(normalize(joints, layout, max_frames=window)[None])[0]
        context = min(window // 4, 64)
        parts, start = [], 0
        while start < total:
            lo = max(0, start - context)
            hi = min(total, lo + window)
            x = normalize(joints[lo:hi], layout, max_frames=window)  # (<= window, J, 3)
            parts.append(encoder.encode(x[None])[0][start - lo:])
            start = hi
        return torch.cat(parts)  # (T, D_m)

    def conversation(self, joints: np.ndarray, *, fps: float | None = None,
                     layout: SkeletonLayout = SMPL22, convention: Convention | None = None,
                     source: str = "motion") -> Conversation:
        """A conversation about source joints (T, J, 3) in any layout, rate and convention:
        adapted to the model (`mochat.skeleton.to_model`), answers in the source's frames."""
        motion = adapt_to_model(joints, layout, self.fps if fps is None else fps,
                                model_layout=self.model.encoder.layout, model_fps=self.fps,
                                convention=convention, source=source)
        if motion.joints.shape[0] > self.max_motion_frames:
            raise InvalidSkeletonError(
                f"{source}: {motion.frames.source_frames} frames at {motion.frames.source_fps:g}"
                f" fps are {motion.joints.shape[0] / self.fps:.0f} s, over the limit of "
                f"{self.max_motion_frames / self.fps:.0f} s ({self.max_motion_frames} model "
                "frames); ask about a shorter range")
        features = self.features(motion.joints, self.model.encoder.layout)
        return Conversation(features, self.fps, frames=motion.frames, motion=motion)

    # -- answering ----------------------------------------------------------------------------
    def chat(self, motion: np.ndarray | Conversation, question: str, *,
             history: Sequence[tuple[str, str]] = (), fps: float | None = None) -> ChatAnswer:
        """Answer one question about a motion (world joints or a Conversation)."""
        conv = motion if isinstance(motion, Conversation) else self.conversation(motion, fps=fps)
        if history:
            conv = conv.with_turns(history)
        return self.answer_batch([(conv, question)])[0]

    @torch.no_grad()
    def answer_batch(self, items: Sequence[tuple[Conversation, str]], *,
                     on_token: Callable[[int, str], None] | None = None,
                     keep: Callable[[int], bool] | None = None) -> list[ChatAnswer]:
        """Answer several (conversation, question) pairs in one batched greedy decode.

        `keep(i)` is asked before every decode step for each item still being answered;
        False stops item i there (its answer is cut short, `stopped`), and when no item is
        left the decode ends. A prompt that leaves no room for `max_new_tokens` in the
        LLM's context raises ContextOverflowError before anything is decoded.
        """
        start = time.perf_counter()
        model, tok = self.model, self.model.tokenizer
        feats, fmask = _stack_features([c for c, _ in items])
        prompts = [prompt_ids(model, conv, q) for conv, q in items]
        for i, prompt in enumerate(prompts):
            check_context(model, len(prompt), self.max_new_tokens, f"item {i}")
        stream = None if on_token is None else (lambda i, t: on_token(i, str(tok.decode([t]))))
        wanted = [asks_when(q, conv.turns) for conv, q in items]
        gen = greedy_decode(model, feats, fmask, prompts, max_new_tokens=self.max_new_tokens,
                            stop_ids=self.stop_ids, on_token=stream,
                            keep_hidden=model.head is not None and any(wanted), keep=keep)
        return self.answers_of(items, gen, fmask, [len(p) for p in prompts], start)

    @torch.no_grad()
    def answers_of(self, items: Sequence[tuple[Conversation, str]], gen: Generation,
                   fmask: torch.Tensor, prompt_lengths: list[int],
                   started_s: float) -> list[ChatAnswer]:
        """A decode's tokens (and kept states) -> the items' answers: text, span from the
        head or the text, the text restated to name exactly that span. `fmask` (B, T) is
        the features' mask, `started_s` the perf_counter instant the answers' latency
        counts from."""
        tok = self.model.tokenizer
        wanted = [asks_when(q, conv.turns) for conv, q in items]
        texts = [str(tok.decode(ids, skip_special_tokens=False)).strip() for ids in gen.token_ids]
        texts = [_clean(t) for t in texts]
        spans = self._spans(items, wanted, fmask, gen, texts, prompt_lengths)
        texts = [span_text(t, s) for t, s in zip(texts, spans, strict=True)]
        elapsed = time.perf_counter() - started_s
        stopped = set(gen.stopped)
        return [ChatAnswer(text, span, conv.source_frames, conv.source_fps, elapsed,
                           gen.first_token_s, len(ids), i in stopped)
                for i, ((conv, _), text, span, ids)
                in enumerate(zip(items, texts, spans, gen.token_ids, strict=True))]

    def decoder(self, *, prefix_cache: PrefixCache | None = None,
                model_tag: str = "") -> ContinuousDecoder:
        """Questions answered by iteration-level batching (`mochat.continuous`); the
        prefix cache's keys carry `model_tag` (the checkpoint and encoder)."""
        from mochat.continuous import ContinuousDecoder

        return ContinuousDecoder(self, prefix_cache=prefix_cache, model_tag=model_tag)

    @torch.no_grad()
    def answer_logprobs(self, items: Sequence[tuple[Conversation, str, str]]) -> list[float]:
        """Log-probability the model gives each (conversation, question, answer)'s answer,
        teacher forced: the sum over the answer's tokens, its end-of-turn token included."""
        if not items:
            return []
        model, tok = self.model, self.model.tokenizer
        feats, fmask = _stack_features([c for c, _, _ in items])
        ids, starts = [], []
        for conv, question, answer in items:
            n = -(-conv.features.shape[0] // model.config.pool_frames)
            full = encode_chat(tok, [*conv.messages(question),
                                     {"role": "assistant", "content": answer}],
                               num_motion_tokens=n)
            # the answer is the labelled run the dialogue ends with (earlier answers are
            # labelled too, with unlabelled questions between)
            start = len(full.labels)
            while start > 0 and full.labels[start - 1] != IGNORE_INDEX:
                start -= 1
            ids.append(full.input_ids)
            starts.append(start)
        width = max(len(x) for x in ids)
        input_ids = torch.full((len(ids), width), tok.pad_token_id or 0, dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        keep = torch.zeros((len(ids), width), dtype=torch.bool)
        for i, (row, start) in enumerate(zip(ids, starts, strict=True)):  # right padding
            input_ids[i, :len(row)] = torch.tensor(row)
            mask[i, :len(row)] = 1
            keep[i, start:len(row)] = True
        # with labels, the forward skips the vocabulary projection; apply it to the answers
        labels = torch.where(keep, input_ids, IGNORE_INDEX)
        hidden = model(feats, fmask, input_ids, mask, labels).hidden_states  # (B, L, D)
        scored_next = keep[:, 1:]  # position p predicts token p + 1
        picked = hidden[:, :-1][scored_next]  # (K, D)
        logits = model.output_logits(model.llm.get_output_embeddings()(picked), picked)
        target = model.target_ids(input_ids[:, 1:][scored_next])  # (K,)
        token_logp = torch.log_softmax(logits.float(), -1).gather(-1, target[:, None])[:, 0]
        sample = scored_next.nonzero()[:, 0]  # (K,) which answer each token belongs to
        totals = torch.zeros(len(items)).index_add_(0, sample, token_logp)
        return totals.tolist()

    def _spans(self, items, wanted, fmask, gen, texts, prompt_lengths) -> list[Span | None]:
        """Head spans (MoChat-R) or spans parsed from the text, for 'when' questions only,
        clamped inside the motion; none for an answer that says the action is not there."""
        spans: list[Span | None] = [None] * len(items)
        head_spans = None
        if gen.hidden is not None:  # the decode kept the states the head reads
            text_mask = self.model.head_text_mask(gen.hidden_mask,
                                                  prompt_lengths=prompt_lengths)
            head_spans = self.model.head_spans(gen.motion_tokens, gen.motion_mask,
                                               gen.hidden, text_mask, fmask)
        for i, ((conv, _), want) in enumerate(zip(items, wanted, strict=True)):
            if not want or conv.features.shape[0] == 0:  # text-only: no motion to ground
                continue
            if says_not_in_motion(texts[i]):  # the model says it is not there: no frames
                continue
            last = conv.features.shape[0] - 1
            if head_spans is not None:
                s, e = (int(round(float(v))) for v in head_spans[i])
            else:
                parsed = parse_span(texts[i])
                if parsed is None:
                    continue
                s, e = parsed
            s, e = sorted((max(0, min(s, last)), max(0, min(e, last))))
            spans[i] = conv.span(s, e)
        return spans


def span_text(text: str, span: Span | None) -> str:
    """An answer's text made to state its span and no other frame: its first 'from S to E'
    rewritten to the span's frames (the head's, MoChat-R; clamped ones otherwise), or, when
    that leaves the text naming no span or other frames too, the whole text replaced by
    'From frame S to frame E.'. No span: the text as it is."""
    if span is None:
        return text
    rewritten = replace_span(text, span.start, span.end)
    if span_agrees(rewritten, (span.start, span.end)):
        return rewritten
    return TEMPORAL_ANSWER.format(start=span.start, end=span.end)


def prompt_ids(model: MoChat, conv: Conversation, question: str) -> list[int]:
    """The token ids `model` reads for `question` after `conv`'s turns, up to the assistant
    prompt, with one placeholder slot per motion token."""
    n = -(-conv.features.shape[0] // model.config.pool_frames)  # motion tokens
    return encode_chat(model.tokenizer, conv.messages(question), num_motion_tokens=n,
                       generation_prompt=True).input_ids


def check_context(model: MoChat, prompt_tokens: int, max_new_tokens: int, what: str) -> None:
    """ContextOverflowError when a prompt leaves no room for `max_new_tokens`."""
    context = context_tokens(model)
    if context is not None and prompt_tokens + max_new_tokens > context:
        raise ContextOverflowError(
            f"{what}: a prompt of {prompt_tokens} tokens and {max_new_tokens} to generate "
            f"exceed the model's context of {context} tokens")


def context_tokens(model: MoChat) -> int | None:
    """Positions `model`'s LLM takes (prompt + answer); None when its config does not say."""
    n = getattr(model.llm.config, "max_position_embeddings", None)
    return int(n) if n else None


def _stack_features(convs: Sequence[Conversation]) -> tuple[torch.Tensor, torch.Tensor]:
    """Conversations' features (T_i, D_m) -> zero-padded (B, T, D_m) and mask (B, T)."""
    frames = [c.features.shape[0] for c in convs]
    feats = torch.zeros(len(convs), max(frames), convs[0].features.shape[1])
    fmask = torch.zeros(len(convs), max(frames), dtype=torch.bool)
    for i, conv in enumerate(convs):
        feats[i, :frames[i]], fmask[i, :frames[i]] = conv.features, True
    return feats, fmask


def _clean(text: str) -> str:
    return text.replace("<|im_end|>", "").replace("</s>", "").strip()


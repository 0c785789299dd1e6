"""Questions about conversations answered by iteration-level batching: `MoChatPipeline`'s
prompts and answers around `mochat.models.continuous.ContinuousBatch`.

    decoder = pipeline.decoder(prefix_cache=PrefixCache(256 * 2**20))
    a = decoder.add(conversation, "What does the person do?", max_new_tokens=48)
    while len(decoder):
        for seq_id, answer in decoder.step():  # each answer the step it ends
            ...

An answer is the `ChatAnswer` that `answer_batch` gives for the same question (texts and
spans equal, tested), its latency counted from `add`. All calls come from one thread.

Prefix-cache keys: (model tag, the conversation's `motion_key` - the window ids, when the
caller names them - and a BLAKE2 digest of the features and the prefix's token ids). The
digest makes a stale hit impossible even when a window id comes back with other features;
the motion key keeps entries readable.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Hashable

import torch

from mochat.models.continuous import ContinuousBatch
from mochat.models.prefix_cache import PrefixCache
from mochat.pipeline import ChatAnswer, Conversation, MoChatPipeline, asks_when, check_context
from mochat.pipeline import prompt_ids as build_prompt


class ContinuousDecoder:
    def __init__(self, pipeline: MoChatPipeline, *, prefix_cache: PrefixCache | None = None,
                 model_tag: str = "") -> None:
        self.pipeline = pipeline
        self.model_tag = model_tag
        self.batch = ContinuousBatch(pipeline.model, stop_ids=pipeline.stop_ids,
                                     prefix_cache=prefix_cache)
        self._items: dict[int, tuple[Conversation, str, int, float]] = {}

    def __len__(self) -> int:
        return len(self.batch)

    @property
    def prefix_cache(self) -> PrefixCache | None:
        return self.batch.prefix_cache

    def add(self, conv: Conversation, question: str, *, max_new_tokens: int | None = None,
            on_token: Callable[[str], None] | None = None) -> int:
        """Prefill a question (it joins the running decode) -> its sequence id.
        ContextOverflowError (nothing is decoded) when the prompt leaves no room for
        `max_new_tokens` (default: the pipeline's)."""
        started = time.perf_counter()
        model, tok = self.pipeline.model, self.pipeline.model.tokenizer
        limit = self.pipeline.max_new_tokens if max_new_tokens is None else max_new_tokens
        prompt = build_prompt(model, conv, question)
        check_context(model, len(prompt), limit, "the question")
        stream = None if on_token is None else (lambda t: on_token(str(tok.decode([t]))))
        seq_id = self.batch.add(
            conv.features, prompt, max_new_tokens=limit, on_token=stream,
            keep_hidden=model.head is not None and asks_when(question, conv.turns),
            prefix_key=self.prefix_key(conv, prompt))
        self._items[seq_id] = (conv, question, len(prompt), started)
        return seq_id

    def step(self, keep: Callable[[int], bool] | None = None
             ) -> list[tuple[int, ChatAnswer]]:
        """One decode step of every running question; -> those that ended, answered.
        `keep(seq_id)` False stops a question there (its answer `stopped`)."""
        out = []
        for seq_id, gen in self.batch.step(keep):
            conv, question, prompt_tokens, started = self._items.pop(seq_id)
            fmask = torch.ones(1, conv.features.shape[0], dtype=torch.bool)
            answer = self.pipeline.answers_of([(conv, question)], gen, fmask, [prompt_tokens],
                                              started)[0]
            out.append((seq_id, answer))
        return out

    def reset(self) -> list[int]:
        """Drop every running question (after a failed step); -> their ids."""
        ids = self.batch.reset()
        for seq_id in ids:
            self._items.pop(seq_id, None)
        return ids

    def prefix_key(self, conv: Conversation, prompt: list[int]) -> Hashable | None:
        """The prefix-cache key of a prompt about `conv`; None without motion or cache."""
        if self.batch.prefix_cache is None or conv.features.shape[0] == 0:
            return None
        skeleton = self.pipeline.model.skeleton_id
        end = max(i for i, t in enumerate(prompt) if t == skeleton) + 1
        digest = hashlib.blake2b(digest_size=16)
        digest.update(conv.features.detach().cpu().contiguous().numpy().tobytes())
        digest.update(torch.tensor(prompt[:end], dtype=torch.int64).numpy().tobytes())
        return (self.model_tag, conv.motion_key, digest.hexdigest())

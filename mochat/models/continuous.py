"""Iteration-level (continuous) batching of greedy decodes: answers that do not wait for
each other.

`ContinuousBatch` keeps a set of running sequences in one batched, left-padded KV cache.
`add` prefills a new prompt on its own (through the prefix cache when its motion prefix
is cached: only the rest of the prompt is fed) and joins its row to the batch; `step`
picks every row's next token, retires rows that hit a stop token, their limit or a `keep`
that says no - each returned the moment it is done - and runs one forward over the rows
left. So a new question waits for one step, not for a batch, and a short answer leaves
as soon as it ends.

Rows stay left-padded as in `greedy_decode`: a joining row shorter than the batch is padded
on the left, a longer one pads the others; a leaving row is cut out with
`Cache.batch_select_indices` and columns that are padding in every row left are dropped.
Position ids count each row's real tokens, so a row decodes as it would alone, and the
tokens equal `greedy_decode`'s for the same prompts (tested).

For the regression head a row keeps its prompt's last-layer states (the prefix's from the
cache) and, when the head reads the answer too, the states of its generated tokens; the
caller gets them as a one-row `Generation`, as `greedy_decode` would return it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from mochat.errors import ConfigError
from mochat.models.generate import Generation
from mochat.models.mochat import MoChat
from mochat.models.prefix_cache import PrefixCache, PrefixEntry, kv, kv_layers


@dataclass(eq=False)
class _Row:
    seq_id: int
    max_new_tokens: int
    keep_hidden: bool  # return the head's states
    answer_states: bool  # ... the answer's too (a head that reads the answer)
    on_token: Callable[[int], None] | None
    started_s: float
    prompt_states: Tensor | None = None  # (Lp, D)
    motion: tuple[Tensor, Tensor] | None = None  # motion tokens (1, N, D) and mask (1, N)
    tokens: list[int] = field(default_factory=list)
    states: list[Tensor] = field(default_factory=list)  # (1, D) per fed answer token
    first_token_s: float = 0.0
    prefilled: int = 0  # prompt tokens this row fed the model (the rest came cached)


class ContinuousBatch:
    def __init__(self, model: MoChat, *, stop_ids: set[int],
                 prefix_cache: PrefixCache | None = None) -> None:
        self.model = model
        self.stop_ids = stop_ids
        self.prefix_cache = prefix_cache
        self.rows: list[_Row] = []  # row i of the cache, mask, logits
        self.cache: DynamicCache | None = None
        self.mask = torch.zeros(0, 0, dtype=torch.long)  # (B, S) 1 = real token
        self.logits: Tensor | None = None  # (B, V') scores of each row's next token
        self._next_id = 0
        layers = DynamicCache(config=model.llm.config).layers
        if any(type(layer) is not DynamicLayer for layer in layers):
            raise ConfigError("continuous batching needs a model whose every layer is full "
                              "attention (no sliding window); use the static scheduler")

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def _want_states(self) -> bool:
        return self.model.frame_embed is not None  # CFT scores frame tokens from the states

    # -- joining ------------------------------------------------------------------------
    @torch.no_grad()
    def add(self, features: Tensor, prompt: list[int], *, max_new_tokens: int,
            keep_hidden: bool = False, on_token: Callable[[int], None] | None = None,
            prefix_key: Hashable | None = None) -> int:
        """Prefill `prompt` (token ids, one placeholder per motion token of `features`
        (T, D_m)) and join the running batch; -> its sequence id. Its first token is picked
        at the next `step`. `prefix_key` names the prompt's motion prefix in the prefix
        cache (None: not cached)."""
        model = self.model
        head = model.head
        row = _Row(self._next_id, max_new_tokens, keep_hidden and head is not None,
                   keep_hidden and head is not None and head.reads_answer, on_token,
                   time.perf_counter())
        ids = torch.tensor([prompt], dtype=torch.long)  # (1, L)
        feats = features[None]  # (1, T, D_m)
        fmask = torch.ones(feats.shape[:2], dtype=torch.bool)
        slots = (ids[0] == model.skeleton_id).nonzero()
        prefix = int(slots[-1]) + 1 if len(slots) and prefix_key is not None else 0
        cached = self.prefix_cache if prefix else None
        entry = cached.get(prefix_key) if cached is not None else None
        if entry is not None and row.keep_hidden and entry.hidden is None:
            entry = None  # stored by a model without a head: it lacks the states
        store = cached is not None and entry is None
        # states: for the head, for CFT's frame scores, and for a prefix entry a later
        # question's head will read
        want = row.keep_hidden or self._want_states or (store and head is not None)
        if entry is not None:  # the motion prefix is cached: feed the rest only
            rest = ids[:, entry.tokens:]  # (1, L - P); no placeholder after the prefix
            assert not bool((rest == model.skeleton_id).any()), "a motion slot after the prefix"
            embeds = model.embed_text(rest)
            cache = entry.cache()
            positions = torch.arange(entry.tokens, ids.shape[1])[None]
            if row.keep_hidden:
                row.motion = model.motion_tokens(feats, fmask)
        else:
            embeds, tokens, token_mask = model.build_inputs(feats, fmask, ids)
            cache = DynamicCache()
            positions = torch.arange(ids.shape[1])[None]
            row.motion = (tokens, token_mask)
        out = model.llm(inputs_embeds=embeds, attention_mask=torch.ones_like(ids),
                        position_ids=positions, cache=cache, use_cache=True,
                        output_hidden_states=want, logits_to_keep=1)
        states = out.hidden_states[-1][0] if want else None  # (L_fed, D)
        if store and cached is not None:
            cached.put(prefix_key, PrefixEntry.from_cache(
                out.cache, prefix, states if head is not None else None))
        if row.keep_hidden:
            assert states is not None
            row.prompt_states = states if entry is None else \
                torch.cat([entry.hidden, states])  # type: ignore[list-item]
        row.prefilled = embeds.shape[1]
        logits = out.logits[:, -1]  # (1, V)
        if self._want_states:
            assert states is not None
            logits = model.output_logits(logits, states[-1:])
        self._join(row, out.cache, ids.shape[1], logits)
        self._next_id += 1
        return row.seq_id

    def _join(self, row: _Row, cache: DynamicCache, length: int, logits: Tensor) -> None:
        self.rows.append(row)
        mask = torch.ones(1, length, dtype=torch.long)
        if self.cache is None or self.logits is None:
            self.cache, self.mask, self.logits = cache, mask, logits
            return
        width = max(self.mask.shape[1], length)
        grow, pad = width - self.mask.shape[1], width - length
        for old, new in zip(kv_layers(self.cache), kv_layers(cache), strict=True):
            (k, v), (new_k, new_v) = kv(old), kv(new)
            old.keys = torch.cat([_pad_left(k, grow), _pad_left(new_k, pad)])
            old.values = torch.cat([_pad_left(v, grow), _pad_left(new_v, pad)])
        self.mask = torch.cat([F.pad(self.mask, (grow, 0)), F.pad(mask, (pad, 0))])
        self.logits = torch.cat([self.logits, logits])

    # -- decoding -----------------------------------------------------------------------
    @torch.no_grad()
    def step(self, keep: Callable[[int], bool] | None = None
             ) -> list[tuple[int, Generation]]:
        """Pick each row's next token and decode one step; -> the sequences that ended,
        each as a one-row Generation (`stopped` = [0] when `keep(seq_id)` said no)."""
        if not self.rows or self.logits is None:
            return []
        model = self.model
        next_ids = model.full_vocab_id(self.logits.argmax(-1))  # (B,)
        done: list[tuple[int, Generation]] = []
        fed: list[int] = []  # rows that decode on (or need their last token's state)
        now = time.perf_counter()
        for index, row in enumerate(self.rows):
            if keep is not None and not keep(row.seq_id):
                done.append((row.seq_id, self._finish(row, stopped=True)))
                continue
            token = int(next_ids[index])
            if not row.tokens:
                row.first_token_s = now - row.started_s
            if token in self.stop_ids:
                done.append((row.seq_id, self._finish(row)))
                continue
            row.tokens.append(token)
            if row.on_token is not None:
                row.on_token(token)
            if len(row.tokens) < row.max_new_tokens or row.answer_states:
                fed.append(index)
            else:
                done.append((row.seq_id, self._finish(row)))
        self._keep_rows(fed)
        if not self.rows:
            return done
        step_ids = next_ids[torch.tensor(fed)][:, None]  # (B', 1)
        self.mask = torch.cat([self.mask, torch.ones(len(fed), 1, dtype=torch.long)], 1)
        positions = self.mask.sum(1, keepdim=True) - 1  # (B', 1): real tokens before it
        want = self._want_states or any(r.answer_states for r in self.rows)
        out = model.llm(inputs_embeds=model.embed_text(step_ids), attention_mask=self.mask,
                        position_ids=positions, cache=self.cache, use_cache=True,
                        output_hidden_states=want)
        self.cache = out.cache
        states = out.hidden_states[-1][:, -1] if want else None  # (B', D)
        logits = out.logits[:, -1]
        if self._want_states:
            assert states is not None
            logits = model.output_logits(logits, states)
        self.logits = logits
        staying = []
        for index, row in enumerate(self.rows):
            if row.answer_states:
                assert states is not None
                row.states.append(states[index:index + 1])
                if len(row.tokens) == row.max_new_tokens:  # its last token's state is in
                    done.append((row.seq_id, self._finish(row)))
                    continue
            staying.append(index)
        self._keep_rows(staying)
        return done

    def _keep_rows(self, indices: list[int]) -> None:
        """Cut every row not in `indices` out of the batch."""
        if len(indices) == len(self.rows):
            return
        if not indices:
            self.reset()
            return
        index = torch.tensor(indices)
        assert self.cache is not None and self.logits is not None
        self.cache.batch_select_indices(index)
        self.mask, self.logits = self.mask[index], self.logits[index]
        self.rows = [self.rows[i] for i in indices]
        pads = int((self.mask.cumsum(1) == 0).sum(1).min())  # columns empty in every row
        if pads:
            self.mask = self.mask[:, pads:]
            for layer in kv_layers(self.cache):
                k, v = kv(layer)
                layer.keys, layer.values = k[:, :, pads:], v[:, :, pads:]

    def reset(self) -> list[int]:
        """Drop every row (after a failed step); -> their sequence ids."""
        ids = [row.seq_id for row in self.rows]
        self.rows, self.cache, self.logits = [], None, None
        self.mask = torch.zeros(0, 0, dtype=torch.long)
        return ids

    def _finish(self, row: _Row, *, stopped: bool = False) -> Generation:
        gen = Generation([row.tokens], row.first_token_s, stopped=[0] if stopped else [])
        if row.keep_hidden and row.prompt_states is not None and row.motion is not None:
            answer = row.states[:len(row.tokens)] if row.answer_states else []
            hidden = torch.cat([row.prompt_states, *answer])[None]  # (1, L, D)
            gen.hidden = hidden
            gen.hidden_mask = torch.ones(hidden.shape[:2], dtype=torch.long)
            gen.motion_tokens, gen.motion_mask = row.motion
        return gen


def _pad_left(x: Tensor, columns: int) -> Tensor:
    """(B, H, S, Dh) -> (B, H, columns + S, Dh), zeros first."""
    return F.pad(x, (0, 0, columns, 0)) if columns else x

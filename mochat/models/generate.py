"""Greedy decoding for MoChat over a batch of left-padded prompts, with a KV cache.

MoChat's inputs are embeddings (motion tokens spliced into text) and CFT adds output logits
for frame-ID tokens, so decoding runs its own loop over the LLM instead of `generate()`.
Left padding keeps every prompt's last token in the last column; position ids skip pads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from mochat.models.mochat import MoChat


@dataclass
class Generation:
    token_ids: list[list[int]]  # per sample, without the prompt and without the stop token
    first_token_s: float  # wall time to the first token of the batch
    # With keep_hidden: last-layer states of prompt + answer, packed to start at column 0
    # (right padding), their mask, and the motion tokens; what the regression head reads.
    hidden: Tensor | None = None  # (B, L, D)
    hidden_mask: Tensor | None = None  # (B, L)
    motion_tokens: Tensor | None = None  # (B, N, D)
    motion_mask: Tensor | None = None  # (B, N)
    stopped: list[int] = field(default_factory=list)  # samples `keep` stopped, in order


def left_pad(sequences: list[list[int]], pad_id: int) -> tuple[Tensor, Tensor]:
    """-> ids (B, L) and attention mask (B, L), padded on the left."""
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for i, seq in enumerate(sequences):
        ids[i, width - len(seq):] = torch.tensor(seq, dtype=torch.long)
        mask[i, width - len(seq):] = 1
    return ids, mask


@torch.no_grad()
def greedy_decode(model: MoChat, features: Tensor, feature_mask: Tensor,
                  prompts: list[list[int]], *, max_new_tokens: int = 64,
                  stop_ids: set[int] | None = None,
                  on_token: Callable[[int, int], None] | None = None,
                  keep_hidden: bool = False,
                  keep: Callable[[int], bool] | None = None) -> Generation:
    """Decode up to `max_new_tokens` per prompt; `on_token(sample, token_id)` streams.

    `keep_hidden` also returns the hidden states of prompt + answer, so the regression head
    needs no second forward pass: the states of a generated token come from the step that
    feeds it back, which the loop runs for every token of a sample before its stop token.

    `keep(sample)` is asked before every step for each sample still being decoded; False
    stops that sample there (its tokens so far are returned; it is listed in
    `Generation.stopped`). With `keep`, a sample that stopped or finished also leaves the
    batch: its row is cut from the KV cache, so the next steps cost what the remaining
    samples cost, and the decode ends when none remains. Without `keep` the batch keeps
    its shape to the end, as it always did.
    """
    import time

    start = time.perf_counter()
    tokenizer = model.tokenizer
    stop = stop_ids if stop_ids is not None else {tokenizer.eos_token_id}
    ids, mask = left_pad(prompts, tokenizer.pad_token_id or 0)
    embeds, tokens, token_mask = model.build_inputs(features, feature_mask, ids)
    prompt_mask = mask
    positions = (mask.cumsum(1) - 1).clamp(min=0)
    want_hidden = keep_hidden or model.frame_embed is not None
    out = model.llm(inputs_embeds=embeds, attention_mask=mask, position_ids=positions,
                    use_cache=True, output_hidden_states=want_hidden)
    prompt_states = out.hidden_states[-1] if keep_hidden else None  # (B, Lp, D)
    steps: list[tuple[list[int], Tensor]] = []  # (samples of the rows, (B_rows, 1, D))
    batch = len(prompts)
    rows = list(range(batch))  # the sample in each row of the decoding tensors
    done = [False] * batch
    generated: list[list[int]] = [[] for _ in range(batch)]
    stopped: list[int] = []
    first_token_s = 0.0
    for step in range(max_new_tokens):
        hidden = out.hidden_states[-1][:, -1:] if model.frame_embed is not None else None
        logits = out.logits[:, -1:]
        if hidden is not None:
            logits = model.output_logits(logits, hidden)
        next_ids = model.full_vocab_id(logits[:, -1].argmax(-1))  # (B_rows,)
        if step == 0:
            first_token_s = time.perf_counter() - start
        for row, i in enumerate(rows):
            if done[i]:
                continue
            if keep is not None and not keep(i):
                done[i] = True
                stopped.append(i)
                continue
            token = int(next_ids[row])
            if token in stop:
                done[i] = True
                continue
            generated[i].append(token)
            if on_token is not None:
                on_token(i, token)
        if all(done[i] for i in rows):
            break
        if keep is not None and any(done[i] for i in rows):
            live = [row for row, i in enumerate(rows) if not done[i]]
            index = torch.tensor(live)
            out.cache.batch_select_indices(index)
            mask, positions, next_ids = mask[index], positions[index], next_ids[index]
            rows = [rows[row] for row in live]
        mask = torch.cat([mask, torch.ones((len(rows), 1), dtype=mask.dtype)], 1)
        positions = positions[:, -1:] + 1
        step_embeds = model.embed_text(next_ids[:, None])
        out = model.llm(inputs_embeds=step_embeds, attention_mask=mask, position_ids=positions,
                        cache=out.cache, use_cache=True,
                        output_hidden_states=want_hidden)
        if keep_hidden:
            steps.append((rows, out.hidden_states[-1]))
    if prompt_states is None:
        return Generation(generated, first_token_s, stopped=stopped)
    hidden, hidden_mask = _pack_states(prompt_states, steps, prompt_mask,
                                       [len(g) for g in generated])
    return Generation(generated, first_token_s, hidden, hidden_mask, tokens, token_mask,
                      stopped)


def _pack_states(prompt: Tensor, steps: list[tuple[list[int], Tensor]], prompt_mask: Tensor,
                 answer_lengths: list[int]) -> tuple[Tensor, Tensor]:
    """Left-padded prompt states (B, Lp, D) + per-step states of the rows still decoded ->
    right-padded (B, L, D) and mask; a sample takes the states of its first answer tokens."""
    per_sample: list[list[Tensor]] = [[] for _ in answer_lengths]
    for samples, state in steps:  # state: (B_rows, 1, D)
        for row, i in enumerate(samples):
            per_sample[i].append(state[row])  # (1, D)
    rows = []
    for i, n in enumerate(answer_lengths):
        real = prompt[i, prompt_mask[i].bool()]  # (Lp_i, D)
        answer = per_sample[i][:n]
        rows.append(torch.cat([real, *answer]) if answer else real)
    width = max(r.shape[0] for r in rows)
    hidden = prompt.new_zeros(len(rows), width, prompt.shape[-1])
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for i, r in enumerate(rows):
        hidden[i, :r.shape[0]], mask[i, :r.shape[0]] = r, 1
    return hidden, mask

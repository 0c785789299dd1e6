"""MoChat's layers: projector, temporal pooling, the `<skeleton>` splice, the regression
head and its DIoU loss.

Shapes: motion features (B, T, D_m); with temporal pooling factor p the motion tokens are
(B, N, D) with N = ceil(T / p) and D the LLM width; text is (B, L).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

PROJECTORS = ("linear", "mlp2x_gelu")


def build_projector(kind: str, motion_dim: int, llm_dim: int) -> nn.Module:
    if kind == "linear":
        return nn.Linear(motion_dim, llm_dim)
    if kind == "mlp2x_gelu":
        return nn.Sequential(nn.Linear(motion_dim, llm_dim), nn.GELU(), nn.Linear(llm_dim, llm_dim))
    raise ValueError(f"unknown projector {kind!r}; expected 'linear' or 'mlp2x_gelu'")


def pool_time(features: Tensor, mask: Tensor, factor: int) -> tuple[Tensor, Tensor]:
    """Average every `factor` frames: (B, T, D), (B, T) -> (B, N, D), (B, N)."""
    if factor == 1:
        return features, mask
    b, t, d = features.shape
    n = math.ceil(t / factor)
    pad = n * factor - t
    features = F.pad(features, (0, 0, 0, pad))
    weights = F.pad(mask.to(features.dtype), (0, pad)).reshape(b, n, factor, 1)
    summed = (features.reshape(b, n, factor, d) * weights).sum(2)  # (B, N, D)
    count = weights.sum(2)  # (B, N, 1)
    return summed / count.clamp(min=1.0), count.squeeze(-1) > 0


def splice_motion(text_embeds: Tensor, slot_mask: Tensor, motion_tokens: Tensor,
                  motion_mask: Tensor) -> Tensor:
    """Write the real motion tokens into the `<skeleton>` slots, in order.

    text_embeds (B, L, D), slot_mask (B, L) bool, motion_tokens (B, N, D), motion_mask (B, N).
    Sample b must have exactly motion_mask[b].sum() slots; otherwise this raises.
    """
    slots = slot_mask.sum(1)
    real = motion_mask.sum(1)
    if not torch.equal(slots, real):
        raise ValueError(f"<skeleton> slots per sample {slots.tolist()} != motion tokens "
                         f"{real.tolist()}")
    values = motion_tokens[motion_mask].to(text_embeds.dtype)  # (sum N_b, D), sample order
    return text_embeds.masked_scatter(slot_mask.unsqueeze(-1), values)


def diou_loss(pred: Tensor, target: Tensor) -> Tensor:
    """Distance-IoU loss of 1-D intervals, (B, 2) each as (start, end): mean over B."""
    inter = (torch.minimum(pred[:, 1], target[:, 1]) -
             torch.maximum(pred[:, 0], target[:, 0])).clamp(min=0)
    union = (pred[:, 1] - pred[:, 0]) + (target[:, 1] - target[:, 0]) - inter
    iou = inter / union.clamp(min=1e-6)
    hull = (torch.maximum(pred[:, 1], target[:, 1]) -
            torch.minimum(pred[:, 0], target[:, 0])).clamp(min=1e-6)
    centre = ((pred[:, 0] + pred[:, 1]) - (target[:, 0] + target[:, 1])) / 2
    return (1 - iou + (centre / hull) ** 2).mean()


def _clamp_unit(x: Tensor) -> Tensor:
    """x clamped into [0, 1], with the gradient of the identity (straight-through)."""
    return x + (x.clamp(0.0, 1.0) - x).detach()


class RegressionHead(nn.Module):
    """Motion tokens (queries) attend over LLM hidden states (keys/values); the weight each
    motion token gives the first ([BOS]) position pools the motion tokens; an MLP maps the
    pooled vector to a (start, end) span as fractions of the motion.

    Position n/(N_b - 1), over the sample's own N_b tokens, is appended to each motion token
    before pooling, so the pooled vector says *where* in time the pooled weight sits.
    Queries, keys and the pooled vector are layer-normalised: LLM hidden states have norms
    of ~50, and without it the scores and the MLP saturate at the first step, the span
    sticks to the whole motion and no gradient moves it (measured on the first reference
    run: every test span was [0, last]).
    """

    reads_answer = True  # as in the paper: every state, the answer's included

    def __init__(self, llm_dim: int, hidden: int) -> None:
        super().__init__()
        self.norm_motion = nn.LayerNorm(llm_dim)
        self.norm_hidden = nn.LayerNorm(llm_dim)
        self.query = nn.Linear(llm_dim, hidden)
        self.key = nn.Linear(llm_dim, hidden)
        self.value = nn.Linear(llm_dim, hidden)
        self.norm_pooled = nn.LayerNorm(2 * hidden)
        self.mlp = nn.Sequential(nn.Linear(2 * hidden + 1, hidden), nn.GELU(),
                                 nn.Linear(hidden, 2))

    def forward(self, motion_tokens: Tensor, motion_mask: Tensor, hidden: Tensor,
                text_mask: Tensor) -> Tensor:
        """(B, N, D), (B, N), (B, L, D), (B, L) -> (B, 2) span fractions in [0, 1]."""
        q = self.query(self.norm_motion(motion_tokens))
        keys = self.norm_hidden(hidden)
        k, v = self.key(keys), self.value(keys)
        scores = q @ k.transpose(1, 2) / math.sqrt(q.shape[-1])  # (B, N, L)
        scores = scores.masked_fill(~text_mask[:, None, :], float("-inf"))
        attn = scores.softmax(-1)  # (B, N, L)
        context = attn @ v  # (B, N, H)
        bos = attn[:, :, 0].masked_fill(~motion_mask, 0.0)  # (B, N): the [BOS] column
        weights = bos / bos.sum(1, keepdim=True).clamp(min=1e-9)
        # each sample's own length, not the padded batch's: a motion must score the same
        # alone and padded beside a longer one
        index = torch.arange(motion_tokens.shape[1], device=q.device, dtype=q.dtype)
        last = (motion_mask.sum(1, keepdim=True) - 1).clamp(min=1).to(q.dtype)  # (B, 1)
        position = index[None] / last  # (B, N): 0 .. 1 over the real tokens
        pooled = (weights.unsqueeze(-1) * torch.cat([q, context], -1)).sum(1)  # (B, 2H)
        where = (weights * position).sum(1, keepdim=True)  # (B, 1): pooled position
        raw = self.mlp(torch.cat([self.norm_pooled(pooled), where], -1))  # (B, 2)
        # start, and end = start + a positive length: always ordered. Clamped into [0, 1]
        # with a straight-through gradient: a sigmoid here saturated in training, and DIoU
        # (whose centre term shrinks as the span grows) then parked every span on the whole
        # motion with no gradient left to move it.
        start = raw[:, 0] + 0.5
        end = start + F.softplus(raw[:, 1] - 1.0)
        start, end = _clamp_unit(start), _clamp_unit(end)
        return torch.stack([start, end], -1)


class FrameBoundaryHead(nn.Module):
    """Per-token start/end scores: a span-extraction head (an extension; the paper pools).

    Each motion token (query) attends over the LLM's prompt states (keys/values) as in
    `RegressionHead`; instead of pooling them into one vector, every token keeps its own
    question-aware feature, two residual temporal convolutions give it its neighbours (a
    boundary is a change between frames), and a linear layer scores it as the span's start
    and end. Measured on cached prompt states of the v1 model (a session-2 diagnosis script,
    in git history): test R@1 at IoU 0.5 / 0.7 of 90 / 88, against 19 / 12 for the pooled
    head on the same states.
    """

    # The prompt's states only: in training the answer holds the ground-truth frames, which
    # a head that reads it learns to copy; at inference they do not exist.
    reads_answer = False

    def __init__(self, llm_dim: int, hidden: int, kernel: int = 5) -> None:
        super().__init__()
        self.norm_motion = nn.LayerNorm(llm_dim)
        self.norm_hidden = nn.LayerNorm(llm_dim)
        self.query = nn.Linear(llm_dim, hidden)
        self.key = nn.Linear(llm_dim, hidden)
        self.value = nn.Linear(llm_dim, hidden)
        self.mix = nn.Sequential(nn.Linear(3 * hidden, hidden), nn.GELU())
        self.convs = nn.ModuleList(nn.Conv1d(hidden, hidden, kernel, padding=kernel // 2)
                                   for _ in range(2))
        self.score = nn.Linear(hidden, 2)

    def forward(self, motion_tokens: Tensor, motion_mask: Tensor, hidden: Tensor,
                text_mask: Tensor) -> Tensor:
        """(B, N, D), (B, N), (B, L, D), (B, L) -> (B, N, 2) start/end logits; -inf on pads."""
        q = self.query(self.norm_motion(motion_tokens))
        keys = self.norm_hidden(hidden)
        k, v = self.key(keys), self.value(keys)
        scores = q @ k.transpose(1, 2) / math.sqrt(q.shape[-1])  # (B, N, L)
        context = scores.masked_fill(~text_mask[:, None, :], float("-inf")).softmax(-1) @ v
        keep = motion_mask.unsqueeze(-1).to(q.dtype)
        x = self.mix(torch.cat([q, context, q * context], -1)) * keep  # (B, N, H)
        for conv in self.convs:
            x = (x + F.gelu(conv(x.transpose(1, 2)).transpose(1, 2))) * keep
        return self.score(x).masked_fill(~motion_mask.unsqueeze(-1), float("-inf"))


def expected_tokens(logits: Tensor) -> Tensor:
    """(B, N, 2) start/end logits -> (B, 2) expected token indices (differentiable)."""
    index = torch.arange(logits.shape[1], device=logits.device, dtype=logits.dtype)
    return (logits.softmax(1) * index[None, :, None]).sum(1)


def best_span(logits: Tensor) -> Tensor:
    """(B, N, 2) start/end logits -> (B, 2) token indices of the best span with start <= end."""
    start, end = logits[..., 0], logits[..., 1]
    n = start.shape[1]
    pair = start[:, :, None] + end[:, None, :]  # (B, N, N): start i, end j
    before = torch.ones(n, n, dtype=torch.bool, device=logits.device).tril(-1)
    best = pair.masked_fill(before, float("-inf")).flatten(1).argmax(1)
    return torch.stack([best // n, best % n], -1)

"""GL-Transformer's pretext task: multi-interval pose displacement as classes.

For every frame t, joint j and interval k (1, 5 and 10 frames), the displacement
d = x[t + k, j] - x[t, j] of the normalised joints is turned into two labels:
- direction: per axis, the sign of d (-, 0, +) with a dead zone (a component counts as 0
  when it is under `deadzone` of |d|, or |d| is under `min_magnitude`): 3^3 = 27 classes;
- magnitude: |d| bucketed by per-interval edges, quantiles measured on the training data,
  so the classes are balanced.
Joint 0 carries the root trajectory (global translation) after `normalize`; its loss is
weighted by `lambda_global` (GL-Transformer: 0.05) so the model attends to body motion.
The head reads the encoder's per-frame features (B, T, D), the same ones the LLM reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

NUM_DIRECTIONS = 27
IGNORE = -100


@dataclass(frozen=True)
class PretextSpec:
    intervals: tuple[int, ...] = (1, 5, 10)
    num_magnitude_bins: int = 16
    deadzone: float = 0.3
    min_magnitude: float = 1e-3
    lambda_global: float = 0.05
    lambda_magnitude: float = 1.0


def displacements(joints: Tensor, mask: Tensor, interval: int) -> tuple[Tensor, Tensor]:
    """(B, T, J, 3), (B, T) -> displacement (B, T, J, 3) and its validity (B, T).

    Frame t is valid when t and t + interval are both real; invalid rows are zero.
    """
    b, t, j, c = joints.shape
    pad = joints.new_zeros(b, interval, j, c)
    ahead = torch.cat([joints[:, interval:], pad], dim=1)  # x[t + k], zero past the end
    ahead_real = torch.cat([mask[:, interval:], mask.new_zeros(b, interval)], dim=1)
    valid = mask & ahead_real
    return (ahead - joints) * valid[:, :, None, None], valid


def direction_classes(disp: Tensor, spec: PretextSpec) -> Tensor:
    """(..., 3) -> (...) int64 in [0, 27): base-3 digits of the (x, y, z) signs."""
    norm = disp.norm(dim=-1, keepdim=True)
    keep = (disp.abs() >= spec.deadzone * norm) & (norm >= spec.min_magnitude)
    signs = torch.sign(disp) * keep  # -1, 0, +1 per axis
    digits = (signs + 1).long()
    return digits[..., 0] * 9 + digits[..., 1] * 3 + digits[..., 2]


def magnitude_edges(samples: Sequence[np.ndarray], spec: PretextSpec) -> list[list[float]]:
    """Per-interval bin edges (num_bins - 1 each) from quantiles of |d| over `samples`,
    a list of normalised (T, J, 3) clips."""
    edges = []
    qs = np.linspace(0.0, 1.0, spec.num_magnitude_bins + 1)[1:-1]
    for k in spec.intervals:
        mags = [np.linalg.norm(s[k:] - s[:-k], axis=-1).ravel() for s in samples if len(s) > k]
        if not mags:
            raise ValueError(f"no clip is longer than the interval of {k} frames")
        values = np.quantile(np.concatenate(mags), qs)
        edges.append([float(v) for v in np.maximum.accumulate(values)])
    return edges


def targets(joints: Tensor, mask: Tensor, spec: PretextSpec, edges: Tensor
            ) -> tuple[Tensor, Tensor]:
    """Labels (B, T, K, J) for direction and magnitude; IGNORE where no displacement exists.

    `edges` is (K, num_bins - 1) from `magnitude_edges`.
    """
    dirs, mags = [], []
    for i, k in enumerate(spec.intervals):
        disp, valid = displacements(joints, mask, k)  # (B, T, J, 3), (B, T)
        invalid = ~valid[:, :, None]  # (B, T, 1)
        dirs.append(direction_classes(disp, spec).masked_fill(invalid, IGNORE))
        mag = torch.bucketize(disp.norm(dim=-1), edges[i].contiguous())
        mags.append(mag.masked_fill(invalid, IGNORE))
    return torch.stack(dirs, dim=2), torch.stack(mags, dim=2)


class DisplacementHead(nn.Module):
    """Per-frame features (B, T, D) -> direction (B, T, K, J, 27) and magnitude logits."""

    def __init__(self, feature_dim: int, num_joints: int, spec: PretextSpec) -> None:
        super().__init__()
        self.num_joints = num_joints
        self.num_intervals = len(spec.intervals)
        self.num_mag = spec.num_magnitude_bins
        per_joint = NUM_DIRECTIONS + self.num_mag
        self.proj = nn.Linear(feature_dim, self.num_intervals * num_joints * per_joint)

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor]:
        b, t, _ = features.shape
        out = self.proj(features).reshape(b, t, self.num_intervals, self.num_joints, -1)
        return out[..., :NUM_DIRECTIONS], out[..., NUM_DIRECTIONS:]


@dataclass
class PretextLoss:
    loss: Tensor
    direction_loss: float
    magnitude_loss: float
    direction_acc: float
    magnitude_acc: float


def pretext_loss(dir_logits: Tensor, mag_logits: Tensor, dir_labels: Tensor,
                 mag_labels: Tensor, spec: PretextSpec) -> PretextLoss:
    """Weighted cross-entropy; the root joint (index 0, global translation) weighs
    `lambda_global`, every other joint 1. Accuracies are over non-root joints."""
    j = dir_labels.shape[-1]
    weight = torch.ones(j, device=dir_labels.device)
    weight[0] = spec.lambda_global
    valid = (dir_labels != IGNORE).float() * weight  # (B, T, K, J)
    denom = valid.sum().clamp_min(1.0)

    def weighted_ce(logits: Tensor, labels: Tensor) -> Tensor:
        ce = F.cross_entropy(logits.flatten(0, -2), labels.clamp_min(0).flatten(),
                             reduction="none").reshape(labels.shape)
        return (ce * valid).sum() / denom

    dir_loss, mag_loss = weighted_ce(dir_logits, dir_labels), weighted_ce(mag_logits, mag_labels)
    body = dir_labels[..., 1:] != IGNORE
    with torch.no_grad():
        dir_acc = (dir_logits[..., 1:, :].argmax(-1) == dir_labels[..., 1:])[body].float().mean()
        mag_acc = (mag_logits[..., 1:, :].argmax(-1) == mag_labels[..., 1:])[body].float().mean()
    return PretextLoss(loss=dir_loss + spec.lambda_magnitude * mag_loss,
                       direction_loss=float(dir_loss.detach()),
                       magnitude_loss=float(mag_loss.detach()),
                       direction_acc=float(dir_acc), magnitude_acc=float(mag_acc))

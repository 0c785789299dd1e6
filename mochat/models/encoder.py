"""Skeleton encoders: JGSE (the paper's Joints-Grouped Skeleton Encoder) and GLTE (baseline).

Both map normalised joints to one feature vector per frame, (B, T, J, 3) -> (B, T, D), and
share the GL-Transformer trunk (Kim et al. 2022): each block runs spatial attention among
the N tokens of one frame, then temporal attention across frames over the whole frame
(the N token vectors flattened to one N*W vector), then a feed-forward layer.

They differ only in how a frame becomes tokens:
- JGSE embeds the arm, leg and trunk joints with one linear layer per group, adds a Global
  Joint token (a learned convex combination of all joints, initialised from the layout's
  mass weights) with its own linear layer, adds spatial positional embeddings in grouped
  order, then restores storage order, so N = J + 1 and the global token is token J.
- GLTE embeds every joint with one shared linear layer plus a per-joint spatial
  embedding: no grouping, no global joint, N = J.

Group membership comes from `layout.groups`, so any SkeletonLayout works unchanged.
The graph is plain reshape/permute/matmul/softmax so that ONNX export stays clean.

Views (`EncoderConfig.views`): the encoder can read a motion more than once and put the
features side by side, in the order named.
- "first_frame" (feature_dim): the trunk on the joints as `normalize` gives them, facing of
  the first frame.
- "body" (feature_dim): the trunk on every joint but the root turned about the vertical to
  the facing of its own frame (the across-hips direction), the root's trajectory kept. A
  limb's side then stays the body's own after the body turns.
- "heading" (3, no weights): the body's yaw relative to the first frame (cos, sin; positive
  to the left) and its turn since the previous frame (10 x the sine of the yaw step, about
  1 in a brisk turn at 20 fps, > 0 turning left). It shows the turns that the body view
  no longer does.
- "lagged" (feature_dim): the trunk on every frame turned, root steps included, to the
  facing the body had `lag_frames` frames earlier (the first frame's before that). A turn
  shows as the body turning, as in "first_frame"; `lag_frames` after it the view has
  caught up and a limb's side is the body's own again, as in "body".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor, nn

from mochat.export.sidecar import validate_batch
from mochat.skeleton.layout import GROUPS, SkeletonLayout
from mochat.skeleton.normalize import hip_pair

ENCODER_KINDS = ("jgse", "glte")
VIEWS = ("first_frame", "body", "heading", "lagged")
HEADING_DIM = 3
TURN_SCALE = 10.0  # the yaw step's sine is ~0.1 per frame in a turn: bring it to ~1
# Added to attention logits of padded frames: finite, so a sequence never yields NaN, and
# large enough that exp() of it is exactly 0 in fp32 (padding cannot leak into real frames).
_MASK_BIAS = -1e9


@dataclass(frozen=True)
class EncoderConfig:
    """Sizes of a skeleton encoder. `token_dim` (W) is the width of one joint token; the
    temporal attention and feed-forward run at width N*W; `feature_dim` (D) is the output."""

    token_dim: int = 16
    num_layers: int = 2
    num_heads: int = 4
    ff_expand: float = 2.0
    feature_dim: int = 256
    max_frames: int = 512
    dropout: float = 0.1
    qkv_bias: bool = True
    views: tuple[str, ...] = ("first_frame",)
    lag_frames: int = 20  # the "lagged" view's delay: 1 s at 20 fps
    fps: float = 20.0  # the rate of the motions it reads: every input is resampled to it

    def __post_init__(self) -> None:
        object.__setattr__(self, "views", tuple(self.views))  # JSON gives a list
        if not self.views or set(self.views) - set(VIEWS) or \
                len(set(self.views)) != len(self.views):
            raise ValueError(f"views {list(self.views)}: expected distinct names from "
                             f"{list(VIEWS)}")
        if not 0 < self.fps < 1000:
            raise ValueError(f"fps must be in (0, 1000), got {self.fps}")
        if self.lag_frames < 0:
            raise ValueError(f"lag_frames must be >= 0, got {self.lag_frames}")
        if self.token_dim % self.num_heads:
            raise ValueError(f"token_dim {self.token_dim} is not divisible by "
                             f"num_heads {self.num_heads}")
        if min(self.token_dim, self.num_layers, self.num_heads, self.feature_dim,
               self.max_frames) < 1:
            raise ValueError(f"encoder sizes must be positive: {self}")


def encoder_tiny() -> EncoderConfig:
    """For tests: a few thousand parameters per block, runs in milliseconds."""
    return EncoderConfig(token_dim=8, num_layers=1, num_heads=2, ff_expand=1.0,
                         feature_dim=32, max_frames=256, dropout=0.0)


def encoder_small() -> EncoderConfig:
    """CPU default: ~2.3M parameters on SMPL-22 (W=16, 2 blocks, frame width 368)."""
    return EncoderConfig()


def encoder_paper() -> EncoderConfig:
    """The paper's size: GL-Transformer's 4 blocks, 8 heads, 48-wide joint tokens."""
    return EncoderConfig(token_dim=48, num_layers=4, num_heads=8, ff_expand=2.0,
                         feature_dim=512, max_frames=512, dropout=0.1)


ENCODER_SIZES = {"tiny": encoder_tiny, "small": encoder_small, "paper": encoder_paper}


def encoder_config(size: str, **overrides: object) -> EncoderConfig:
    """A named size, optionally with some fields replaced."""
    try:
        base = ENCODER_SIZES[size]()
    except KeyError:
        raise ValueError(f"unknown encoder size {size!r}; expected one of "
                         f"{sorted(ENCODER_SIZES)}") from None
    fields = {**base.__dict__, **overrides}
    return EncoderConfig(**fields)  # type: ignore[arg-type]


class Attention(nn.Module):
    """Multi-head self-attention from matmul + softmax (exports to plain ONNX ops)."""

    def __init__(self, width: int, num_heads: int, qkv_bias: bool, dropout: float) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = (width // num_heads) ** -0.5
        self.qkv = nn.Linear(width, 3 * width, bias=qkv_bias)
        self.proj = nn.Linear(width, width)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, bias: Tensor | None = None) -> Tensor:
        """(B, N, W) -> (B, N, W); `bias` (B, 1, 1, N) is added to the attention logits."""
        b, n, w = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, w // self.num_heads)  # (B,N,3,H,W/H)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, H, N, W/H)
        logits = (q @ k.transpose(-2, -1)) * self.scale  # (B, H, N, N)
        if bias is not None:
            logits = logits + bias
        attn = self.dropout(logits.softmax(dim=-1))
        out = (attn @ v).transpose(1, 2).reshape(b, n, w)  # (B, N, W)
        return self.dropout(self.proj(out))


class GLBlock(nn.Module):
    """One GL-Transformer block: spatial attention, temporal attention, feed-forward."""

    def __init__(self, config: EncoderConfig, num_tokens: int) -> None:
        super().__init__()
        width, frame_width = config.token_dim, config.token_dim * num_tokens
        self.norm_spatial = nn.LayerNorm(width)
        self.spatial = Attention(width, config.num_heads, config.qkv_bias, config.dropout)
        self.norm_temporal = nn.LayerNorm(frame_width)
        self.temporal = Attention(frame_width, config.num_heads, config.qkv_bias, config.dropout)
        self.norm_ff = nn.LayerNorm(frame_width)
        hidden = int(frame_width * config.ff_expand)
        self.ff = nn.Sequential(nn.Linear(frame_width, hidden), nn.GELU(),
                                nn.Dropout(config.dropout), nn.Linear(hidden, frame_width),
                                nn.Dropout(config.dropout))

    def forward(self, x: Tensor, time_bias: Tensor) -> Tensor:
        """(B, T, N, W) -> (B, T, N, W); `time_bias` (B, 1, 1, T) masks padded frames."""
        b, t, n, w = x.shape
        xs = x.reshape(b * t, n, w)  # (B*T, N, W): one frame's tokens attend to each other
        xs = xs + self.spatial(self.norm_spatial(xs))
        xt = xs.reshape(b, t, n * w)  # (B, T, N*W): whole frames attend across time
        xt = xt + self.temporal(self.norm_temporal(xt), time_bias)
        xt = xt + self.ff(self.norm_ff(xt))
        return xt.reshape(b, t, n, w)  # (B, T, N, W)


def _facing(joints: Tensor, left: int, right: int) -> tuple[Tensor, Tensor]:
    """(B, T, J, 3) -> cos, sin (B, T) of each frame's yaw: its left - right hip vector is
    (cos, 0, sin) times a length; a body facing +z has it along +x (cos 1, sin 0)."""
    across = joints[:, :, left] - joints[:, :, right]  # (B, T, 3)
    length = (across[..., 0] ** 2 + across[..., 2] ** 2).clamp(min=1e-12).sqrt()  # (B, T)
    return across[..., 0] / length, across[..., 2] / length


def _turn_yaw(points: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """(..., 3) points turned about +y so that a hip vector (cos, 0, sin) goes to +x; cos and
    sin broadcast against points[..., 0]."""
    x, y, z = points[..., 0], points[..., 1], points[..., 2]
    return torch.stack([cos * x + sin * z, y, cos * z - sin * x], dim=-1)


def body_view(joints: Tensor, left: int, right: int) -> Tensor:
    """(B, T, J, 3) -> (B, T, J, 3): joints 1.. turned about +y so that each frame faces +z
    (its `left` - `right` hip vector along +x); joint 0, the root trajectory, is kept."""
    cos, sin = (c.unsqueeze(-1) for c in _facing(joints, left, right))  # (B, T, 1)
    return torch.cat([joints[:, :, :1], _turn_yaw(joints[:, :, 1:], cos, sin)], dim=2)


def lagged_view(joints: Tensor, left: int, right: int, lag: int) -> Tensor:
    """(B, T, J, 3) -> (B, T, J, 3): frame t turned about +y to the facing of frame t - lag
    (frame 0's for t < lag): joints 1.. (root-relative) and the root's steps, whose sum
    rebuilds its trajectory from frame 0's position."""
    cos, sin = _facing(joints, left, right)  # (B, T)
    earlier = (torch.arange(joints.shape[1], device=joints.device) - lag).clamp(min=0)
    cos, sin = cos[:, earlier], sin[:, earlier]
    limbs = _turn_yaw(joints[:, :, 1:], cos.unsqueeze(-1), sin.unsqueeze(-1))
    root = joints[:, :, 0]  # (B, T, 3)
    steps = _turn_yaw(root[:, 1:] - root[:, :-1], cos[:, 1:], sin[:, 1:])  # (B, T-1, 3)
    path = torch.cat([root[:, :1], root[:, :1] + steps.cumsum(dim=1)], dim=1)
    return torch.cat([path.unsqueeze(2), limbs], dim=2)


def heading_view(joints: Tensor, left: int, right: int) -> Tensor:
    """(B, T, J, 3) -> (B, T, 3): cos and sin of each frame's yaw relative to the first
    frame's (which `normalize` turns to +z), positive to the left (from +z toward +x), and
    TURN_SCALE x sin(yaw step from the previous frame), 0 on the first frame: > 0 while
    the body turns left."""
    cos, sin = _facing(joints, left, right)  # of the hip vector: its angle is minus the yaw
    yaw_sin = -sin
    step = yaw_sin[:, 1:] * cos[:, :-1] - cos[:, 1:] * yaw_sin[:, :-1]  # sin(yaw_t - yaw_t-1)
    turn = torch.cat([torch.zeros_like(cos[:, :1]), step], dim=1) * TURN_SCALE
    return torch.stack([cos, yaw_sin, turn], dim=-1)


class SkeletonEncoder(nn.Module):
    """Shared trunk: tokens + temporal positions -> GL blocks -> one feature per frame.

    Subclasses define `embed(joints) -> (B, T, N, W)`. forward takes normalised joints
    (B, T, J, 3) from `mochat.skeleton.normalize` + `pad_batch` and a (B, T) bool mask,
    True on real frames, and returns (B, T, D) features, zero on padded frames; D is the sum
    of the views' widths (`view_dims`).
    """

    kind = ""

    def __init__(self, config: EncoderConfig, layout: SkeletonLayout, num_tokens: int) -> None:
        super().__init__()
        self.config = config
        self.layout = layout
        self.num_tokens = num_tokens
        self.temporal_pos = nn.Parameter(torch.zeros(config.max_frames, config.token_dim))
        nn.init.trunc_normal_(self.temporal_pos, std=0.02)
        self.input_dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(GLBlock(config, num_tokens) for _ in range(config.num_layers))
        frame_width = config.token_dim * num_tokens
        self.norm = nn.LayerNorm(frame_width)
        self.head = nn.Linear(frame_width, config.feature_dim)
        self.hips = hip_pair(layout) if set(config.views) - {"first_frame"} else (0, 0)

    @property
    def feature_dim(self) -> int:
        return sum(self.view_dims().values())

    def view_dims(self) -> dict[str, int]:
        """Each view's width in the output, in output order."""
        return {v: HEADING_DIM if v == "heading" else self.config.feature_dim
                for v in self.config.views}

    def embed(self, joints: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, joints: Tensor, mask: Tensor) -> Tensor:
        """(B, T, J, 3), (B, T) bool -> (B, T, D): the views' features side by side."""
        b, t, j, _ = joints.shape
        assert j == self.layout.num_joints, f"layout {self.layout.name} has other joints"
        real = mask.reshape(b, t, 1, 1)
        # Padding may hold anything (even NaN): replace it so that 0-weighted keys stay 0.
        joints = torch.where(real, joints, torch.zeros_like(joints))
        if len(self.config.views) == 1 and self.config.views != ("heading",):
            return self.trunk(self._view_input(self.config.views[0], joints), mask)
        read = [v for v in self.config.views if v != "heading"]  # views through the trunk
        out: dict[str, Tensor] = {}
        if read:
            inputs = [self._view_input(v, joints) for v in read]
            n = len(read)
            features = self.trunk(torch.cat(inputs), mask.repeat(n, 1))  # (V*B, T, D)
            out = dict(zip(read, features.reshape(n, b, t, -1).unbind(0), strict=True))
        if "heading" in self.config.views:
            out["heading"] = heading_view(joints, *self.hips) * real.reshape(b, t, 1).to(
                joints.dtype)
        return torch.cat([out[v] for v in self.config.views], dim=-1)  # (B, T, D)

    def _view_input(self, view: str, joints: Tensor) -> Tensor:
        if view == "body":
            return body_view(joints, *self.hips)
        if view == "lagged":
            return lagged_view(joints, *self.hips, self.config.lag_frames)
        return joints

    def trunk(self, joints: Tensor, mask: Tensor) -> Tensor:
        """One view: (B, T, J, 3) with zeroed padding, (B, T) bool -> (B, T, D)."""
        b, t, _, _ = joints.shape
        x = self.embed(joints)  # (B, T, N, W)
        x = x + self.temporal_pos[:t].reshape(1, t, 1, self.config.token_dim)
        x = self.input_dropout(x)
        time_bias = (~mask).to(x.dtype).reshape(b, 1, 1, t) * _MASK_BIAS  # (B, 1, 1, T)
        for block in self.blocks:
            x = block(x, time_bias)
        x = self.norm(x.reshape(b, t, self.num_tokens * self.config.token_dim))  # (B, T, N*W)
        features = self.head(x)  # (B, T, D)
        return features * mask.reshape(b, t, 1).to(features.dtype)

    @torch.no_grad()
    def encode(self, joints: np.ndarray | Tensor, mask: np.ndarray | Tensor | None = None
               ) -> Tensor:
        """Validated inference: (B, T, J, 3) -> (B, T, D), raising InvalidSkeletonError."""
        joints_np = joints.detach().cpu().numpy() if isinstance(joints, Tensor) else joints
        mask_np = mask.detach().cpu().numpy() if isinstance(mask, Tensor) else mask
        validate_batch(joints_np, mask_np, num_joints=self.layout.num_joints,
                       max_frames=self.config.max_frames, layout=self.layout.name)
        x = torch.as_tensor(np.asarray(joints_np, dtype=np.float32))
        m = (torch.ones(x.shape[:2], dtype=torch.bool) if mask_np is None
             else torch.as_tensor(mask_np))
        param = next(self.parameters())
        return self(x.to(param.device), m.to(param.device))


class JGSE(SkeletonEncoder):
    """Joints-Grouped Skeleton Encoder: per-group embeddings plus a Global Joint token."""

    kind = "jgse"
    group_order: Tensor
    restore_order: Tensor

    def __init__(self, config: EncoderConfig, layout: SkeletonLayout) -> None:
        super().__init__(config, layout, num_tokens=layout.num_joints + 1)
        self.group_names = tuple(g for g in GROUPS if layout.group_indices(g))
        grouped = [j for g in self.group_names for j in layout.group_indices(g)]
        # Grouped order (arm..., leg..., trunk...) and the permutation back to storage order.
        self.register_buffer("group_order", torch.tensor(grouped), persistent=False)
        self.register_buffer("restore_order", torch.tensor(np.argsort(grouped)),
                             persistent=False)
        self.group_sizes = tuple(len(layout.group_indices(g)) for g in self.group_names)
        self.group_embed = nn.ModuleDict({g: nn.Linear(3, config.token_dim)
                                          for g in self.group_names})
        self.global_embed = nn.Linear(3, config.token_dim)
        weights = np.clip(np.asarray(layout.mass_weights, dtype=np.float64), 1e-6, None)
        self.global_logits = nn.Parameter(torch.tensor(np.log(weights), dtype=torch.float32))
        # Spatial positions in grouped order; the Global Joint's position is the last row.
        self.spatial_pos = nn.Parameter(torch.zeros(self.num_tokens, config.token_dim))
        nn.init.trunc_normal_(self.spatial_pos, std=0.02)

    def global_joint(self, joints: Tensor) -> Tensor:
        """(B, T, J, 3) -> (B, T, 1, 3): softmax-weighted centre of all joints."""
        weights = self.global_logits.softmax(dim=0).reshape(1, -1)  # (1, J)
        return weights @ joints  # (1, J) @ (B, T, J, 3) -> (B, T, 1, 3)

    def embed(self, joints: Tensor) -> Tensor:
        """(B, T, J, 3) -> (B, T, J+1, W), joints in storage order, Global Joint last."""
        grouped = joints.index_select(2, self.group_order)  # (B, T, J, 3) in grouped order
        parts = grouped.split(self.group_sizes, dim=2)
        tokens = [self.group_embed[g](p) for g, p in zip(self.group_names, parts, strict=True)]
        tokens.append(self.global_embed(self.global_joint(joints)))
        x = torch.cat(tokens, dim=2) + self.spatial_pos  # (B, T, J+1, W), grouped order
        j = self.layout.num_joints
        restored = x[:, :, :j].index_select(2, self.restore_order)  # storage order
        return torch.cat([restored, x[:, :, j:]], dim=2)  # (B, T, J+1, W)


class GLTE(SkeletonEncoder):
    """GL-Transformer baseline: one shared joint embedding + per-joint positions."""

    kind = "glte"

    def __init__(self, config: EncoderConfig, layout: SkeletonLayout) -> None:
        super().__init__(config, layout, num_tokens=layout.num_joints)
        self.joint_embed = nn.Linear(3, config.token_dim)
        self.spatial_pos = nn.Parameter(torch.zeros(self.num_tokens, config.token_dim))
        nn.init.trunc_normal_(self.spatial_pos, std=0.02)

    def embed(self, joints: Tensor) -> Tensor:
        """(B, T, J, 3) -> (B, T, J, W)."""
        return self.joint_embed(joints) + self.spatial_pos


_ENCODERS: dict[str, Callable[[EncoderConfig, SkeletonLayout], SkeletonEncoder]] = {
    "jgse": JGSE, "glte": GLTE}


def with_views(encoder: SkeletonEncoder, views: Sequence[str]) -> SkeletonEncoder:
    """The same trained encoder reading the motion in `views` (its weights are shared)."""
    config = replace(encoder.config, views=tuple(views))
    out = build_encoder(encoder.kind, config, encoder.layout)
    out.load_state_dict(encoder.state_dict())
    return out.train(encoder.training)


def build_encoder(kind: str, config: EncoderConfig, layout: SkeletonLayout) -> SkeletonEncoder:
    """`build_encoder("jgse", encoder_small(), SMPL22)`; kind is 'jgse' or 'glte'."""
    try:
        cls = _ENCODERS[kind.lower()]
    except KeyError:
        raise ValueError(f"unknown encoder {kind!r}; expected 'jgse' or 'glte'") from None
    return cls(config, layout)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def encoder_flops(config: EncoderConfig, num_tokens: int, batch: int, frames: int) -> float:
    """Multiply-adds x2 of one forward pass (matmuls only; norms and softmax are < 2%)."""
    w, n, t = config.token_dim, num_tokens, frames
    fw = w * n
    spatial = t * (4 * n * w * w + 2 * n * n * w)  # qkv + proj, then QK^T and AV per frame
    temporal = 4 * t * fw * fw + 2 * t * t * fw
    ff = 2 * t * fw * int(fw * config.ff_expand)
    embed = t * n * 3 * w
    head = t * fw * config.feature_dim
    return 2.0 * batch * (config.num_layers * (spatial + temporal + ff) + embed + head)


"""The MoChat model: JGSE features -> projector -> motion tokens spliced into a causal LM at
`<skeleton>`, plus the regression head (MoChat-R) or frame-ID tokens (CFT) for grounding.

The placeholder and frame-ID tokens live outside the LLM's vocabulary: placeholder slots are
overwritten by motion tokens, and frame-ID tokens have their own embedding table whose rows
are both added to motion tokens and scored as extra output logits. So the base LLM is never
resized, and any Hugging Face causal LM plugs in unchanged.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor, nn
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from mochat.errors import DataFormatError
from mochat.models.chat_format import IGNORE_INDEX, SKELETON_TOKEN, frame_token
from mochat.models.checkpoint import load_encoder, save_encoder
from mochat.models.encoder import SkeletonEncoder
from mochat.models.layers import (
    PROJECTORS,
    FrameBoundaryHead,
    RegressionHead,
    best_span,
    build_projector,
    diou_loss,
    expected_tokens,
    pool_time,
    splice_motion,
)

CONFIG_FILE = "mochat_config.json"
WEIGHTS_FILE = "mochat.safetensors"
ADAPTER_DIR = "adapter"
LLM_DIR = "llm"


HEADS = ("pooled", "frames")


@dataclass(frozen=True)
class MoChatConfig:
    llm: str = "smollm2"
    projector: str = "linear"
    pool_frames: int = 1  # temporal pooling factor p; the paper uses 1 token per frame
    regression_head: bool = True  # MoChat-R
    frame_tokens: bool = False  # the CFT variant
    max_frames: int = 512
    head: str = "pooled"  # "pooled": the paper's head; "frames": per-token start/end scores
    head_hidden: int = 256
    diou_weight: float = 5.0  # total loss = CE + diou_weight * DIoU (+ boundary CE, frames)
    boundary_weight: float = 1.0  # "frames": weight of the start/end token cross-entropy

    def __post_init__(self) -> None:
        if self.projector not in PROJECTORS:
            raise ValueError(f"unknown projector {self.projector!r}; expected 'linear' or "
                             "'mlp2x_gelu'")
        if self.head not in HEADS:
            raise ValueError(f"unknown head {self.head!r}; expected one of {HEADS}")
        if self.pool_frames < 1:
            raise ValueError(f"pool_frames must be >= 1, got {self.pool_frames}")


@dataclass
class MoChatOutput:
    loss: Tensor | None
    logits: Tensor | None  # (B, L, V [+ max_frames frame-ID tokens]); None when training
    spans: Tensor | None  # (B, 2) start/end frames from the head
    ce_loss: Tensor | None = None
    diou_loss: Tensor | None = None
    boundary_loss: Tensor | None = None  # the "frames" head's start/end cross-entropy
    hidden_states: Tensor | None = field(default=None, repr=False)


class MoChat(nn.Module):
    def __init__(self, config: MoChatConfig, encoder: SkeletonEncoder, llm: PreTrainedModel,
                 tokenizer: PreTrainedTokenizerBase) -> None:
        super().__init__()
        self.config = config
        self.encoder = encoder.eval().requires_grad_(False)  # frozen in both stages
        self.llm = llm
        self.tokenizer = tokenizer
        embeddings: nn.Embedding = llm.get_input_embeddings()  # type: ignore[assignment]
        self.base_vocab = int(embeddings.num_embeddings)
        added = [SKELETON_TOKEN]
        if config.frame_tokens:
            added += [frame_token(i) for i in range(config.max_frames)]
        tokenizer.add_tokens(added, special_tokens=True)  # no-op for tokens it already has
        self.skeleton_id: int = tokenizer.convert_tokens_to_ids(SKELETON_TOKEN)  # type: ignore
        self.frame_id0: int = tokenizer.convert_tokens_to_ids(frame_token(0)) \
            if config.frame_tokens else -1  # type: ignore[assignment]
        width = llm.config.hidden_size
        self.projector = build_projector(config.projector, encoder.feature_dim, width)
        self.head: RegressionHead | FrameBoundaryHead | None = None
        if config.regression_head:
            head_class = FrameBoundaryHead if config.head == "frames" else RegressionHead
            self.head = head_class(width, config.head_hidden)
        self.frame_embed = nn.Embedding(config.max_frames, width) if config.frame_tokens \
            else None
        if self.frame_embed is not None:
            nn.init.normal_(self.frame_embed.weight, std=0.02)

    # -- inputs ---------------------------------------------------------------------------
    @torch.no_grad()
    def encode_motion(self, joints: Tensor, mask: Tensor) -> Tensor:
        """Normalised joints (B, T, J, 3) + mask -> frozen encoder features (B, T, D_m)."""
        return self.encoder(joints, mask)

    def motion_tokens(self, features: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """(B, T, D_m), (B, T) -> projected motion tokens (B, N, D) and their mask (B, N)."""
        pooled, token_mask = pool_time(features, mask, self.config.pool_frames)
        tokens = self.projector(pooled)
        if self.frame_embed is not None:
            n = tokens.shape[1]
            frame_of_token = torch.arange(n, device=tokens.device) * self.config.pool_frames
            tokens = tokens + self.frame_embed(frame_of_token.clamp(max=self.config.max_frames - 1))
        return tokens, token_mask

    def _is_frame(self, ids: Tensor) -> Tensor:
        if self.frame_embed is None:
            return torch.zeros_like(ids, dtype=torch.bool)
        return (ids >= self.frame_id0) & (ids < self.frame_id0 + self.config.max_frames)

    def embed_text(self, input_ids: Tensor) -> Tensor:
        """(B, L) -> (B, L, D). Placeholder slots get a dummy row (overwritten by the splice);
        frame-ID tokens come from the frame table."""
        is_frame = self._is_frame(input_ids)
        special = is_frame | (input_ids == self.skeleton_id)
        embeds = self.llm.get_input_embeddings()(torch.where(special, 0, input_ids))
        if self.frame_embed is not None:
            rows = self.frame_embed(torch.where(is_frame, input_ids - self.frame_id0, 0))
            embeds = torch.where(is_frame[..., None], rows.to(embeds.dtype), embeds)
        return embeds

    def build_inputs(self, features: Tensor, feature_mask: Tensor, input_ids: Tensor
                     ) -> tuple[Tensor, Tensor, Tensor]:
        tokens, token_mask = self.motion_tokens(features, feature_mask)
        embeds = splice_motion(self.embed_text(input_ids), input_ids.eq(self.skeleton_id),
                               tokens, token_mask)
        return embeds, tokens, token_mask

    def output_logits(self, logits: Tensor, hidden: Tensor) -> Tensor:
        """Append frame-ID token scores to the LLM's logits (CFT)."""
        if self.frame_embed is None:
            return logits
        frame_logits = hidden @ self.frame_embed.weight.T.to(hidden.dtype)  # (B, L, F)
        return torch.cat([logits, frame_logits.to(logits.dtype)], -1)

    def full_vocab_id(self, index: Tensor) -> Tensor:
        """Map an argmax over output_logits back to a tokenizer id."""
        if self.frame_embed is None:
            return index
        return torch.where(index >= self.base_vocab, index - self.base_vocab + self.frame_id0,
                           index)

    def target_ids(self, labels: Tensor) -> Tensor:
        """Tokenizer ids -> indices into output_logits (frame tokens after the LLM vocab)."""
        if self.frame_embed is None:
            return labels
        return torch.where(self._is_frame(labels), labels - self.frame_id0 + self.base_vocab,
                           labels)

    # -- forward --------------------------------------------------------------------------
    def forward(self, features: Tensor, feature_mask: Tensor, input_ids: Tensor,
                attention_mask: Tensor, labels: Tensor | None = None,
                spans: Tensor | None = None, span_mask: Tensor | None = None, *,
                ce_per_sample: bool = False) -> MoChatOutput:
        """features (B, T, D_m), feature_mask (B, T), input_ids/attention_mask/labels (B, L),
        spans (B, 2) ground-truth frames, span_mask (B,) True where a span exists.

        `ce_per_sample` averages the answer CE within each sample, then over samples, so a
        one-word answer ("Left.") weighs as much as a caption; the default is the mean over
        all answer tokens of the batch."""
        embeds, tokens, token_mask = self.build_inputs(features, feature_mask, input_ids)
        # With labels, only answer positions need vocabulary logits: skip the LM head
        # elsewhere (on SmolLM2 it is ~20 % of the compute of a training step).
        out = self.llm(inputs_embeds=embeds, attention_mask=attention_mask,
                       output_hidden_states=True,
                       **({"logits_to_keep": 1} if labels is not None else {}))
        hidden = out.hidden_states[-1]  # (B, L, D), after the final norm
        logits = ce = None
        if labels is not None:
            target = self.target_ids(labels)[:, 1:]  # (B, L-1)
            scored = target != IGNORE_INDEX
            picked = hidden[:, :-1][scored]  # (K, D): positions that predict an answer token
            picked_logits = self.output_logits(self.llm.get_output_embeddings()(picked),
                                               picked)
            if ce_per_sample:
                per_token = F.cross_entropy(picked_logits.float(), target[scored],
                                            reduction="none")  # (K,)
                counts = scored.sum(1)  # (B,) answer tokens per sample
                share = 1.0 / counts.clamp(min=1)[scored.nonzero()[:, 0]]
                ce = (per_token * share).sum() / (counts > 0).sum().clamp(min=1)
            else:
                ce = F.cross_entropy(picked_logits.float(), target[scored])
        else:
            logits = self.output_logits(out.logits, hidden)
        pred_spans = diou = boundary = None
        if self.head is not None and tokens.shape[1] > 0:  # a text-only batch: no span
            text_mask = self.head_text_mask(attention_mask, labels=labels)
            wanted = spans is not None and span_mask is not None and bool(span_mask.any())
            pred_spans, diou, boundary = self._head(
                tokens, token_mask, hidden, text_mask, feature_mask,
                (spans, span_mask) if wanted else None)  # type: ignore[arg-type]
        loss = None
        if ce is not None:
            loss = ce
            if diou is not None:
                loss = loss + self.config.diou_weight * diou
            if boundary is not None:
                loss = loss + self.config.boundary_weight * boundary
        return MoChatOutput(loss, logits, pred_spans, ce, diou, boundary, hidden)

    def head_text_mask(self, mask: Tensor, *, labels: Tensor | None = None,
                       prompt_lengths: list[int] | None = None) -> Tensor:
        """The hidden states the head may read: all of them (the paper's head), or only the
        prompt's: positions before the last answer (`labels`) or the first `prompt_lengths`."""
        mask = mask.bool()
        if self.head is None or self.head.reads_answer:
            return mask
        index = torch.arange(mask.shape[1], device=mask.device)
        if labels is not None:
            answer = labels != IGNORE_INDEX
            starts = answer & ~F.pad(answer, (1, 0))[:, :-1]  # first token of each answer
            last = torch.where(starts, index, -1).max(1).values  # -1: no answer
            end = torch.where(last < 0, mask.shape[1], last)
        elif prompt_lengths is not None:
            end = torch.tensor(prompt_lengths, device=mask.device)
        else:
            return mask
        return mask & (index[None] < end[:, None])

    def head_spans(self, tokens: Tensor, token_mask: Tensor, hidden: Tensor,
                   text_mask: Tensor, feature_mask: Tensor) -> Tensor | None:
        """The regression head's spans (B, 2) in frames, for inference; None when the batch
        has no motion tokens (N = 0, text-only chats): there is nothing to ground. A
        text-only sample beside motions gets a meaningless row; callers skip it.

        `hidden` (B, L, D) must start at the first real token of every row (right padding):
        the pooled head reads the attention column of position 0. `text_mask` comes from
        `head_text_mask`.
        """
        if tokens.shape[1] == 0:
            return None
        return self._head(tokens, token_mask, hidden, text_mask, feature_mask, None)[0]

    def _head(self, tokens: Tensor, token_mask: Tensor, hidden: Tensor, text_mask: Tensor,
              feature_mask: Tensor, target: tuple[Tensor, Tensor] | None
              ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """-> spans in frames (B, 2), DIoU and boundary losses against `target` (frames,
        mask). The "frames" head predicts the best start <= end tokens at inference and is
        trained on the softmax-expected tokens (DIoU) plus start/end cross-entropy."""
        assert self.head is not None, "this model has no regression head"
        assert tokens.shape[1] > 0, "no motion tokens to ground"
        last = (feature_mask.sum(1, keepdim=True) - 1).clamp(min=1).to(hidden.dtype)  # (B, 1)
        out = self.head(tokens, token_mask, hidden, text_mask)
        diou = boundary = None
        if isinstance(self.head, RegressionHead):
            spans = out * last
            if target is not None:
                frames, wanted = target
                diou = diou_loss(out[wanted], frames.to(out.dtype)[wanted] / last[wanted])
            return spans, diou, boundary
        pool = self.config.pool_frames
        offset = torch.tensor([0.0, pool - 1.0], device=out.device, dtype=out.dtype)
        picked = best_span(out.detach()).to(out.dtype) * pool + offset
        spans = torch.minimum(picked, last)
        if target is not None:
            frames, wanted = target
            logits = out[wanted]
            expected = torch.minimum(expected_tokens(logits) * pool + offset, last[wanted])
            goal = frames.to(out.dtype)[wanted]
            diou = diou_loss(expected / last[wanted], goal / last[wanted])
            tokens_of = (frames[wanted].long() // pool).minimum(
                token_mask[wanted].sum(1, keepdim=True) - 1)  # (K, 2)
            boundary = (F.cross_entropy(logits[..., 0], tokens_of[:, 0]) +
                        F.cross_entropy(logits[..., 1], tokens_of[:, 1])) / 2
        return spans, diou, boundary

    # -- persistence ----------------------------------------------------------------------
    def trainable_state(self) -> dict[str, Tensor]:
        """Projector, head and frame-ID table: what MoChat adds to the LLM and encoder."""
        state = {}
        for name in ("projector", "head", "frame_embed"):
            module = getattr(self, name)
            if module is not None:
                state.update({f"{name}.{k}": v.detach().cpu().contiguous()
                              for k, v in module.state_dict().items()})
        return state

    def save_pretrained(self, directory: str | Path) -> Path:
        """config + encoder/ + mochat.safetensors + adapter/ (LoRA) or llm/ (full weights)."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        (out / CONFIG_FILE).write_text(json.dumps(asdict(self.config), indent=2) + "\n")
        save_encoder(self.encoder, out / "encoder")
        save_file(self.trainable_state(), str(out / WEIGHTS_FILE))
        if hasattr(self.llm, "peft_config"):
            self.llm.save_pretrained(out / ADAPTER_DIR)
        elif any(p.requires_grad for p in self.llm.parameters()) or (out / LLM_DIR).exists():
            self.llm.save_pretrained(out / LLM_DIR)
            self.tokenizer.save_pretrained(out / LLM_DIR)
        return out

    @classmethod
    def from_pretrained(cls, directory: str | Path, *, llm: str | None = None,
                        merge_adapter: bool = True, fresh_head: bool = False,
                        config: dict[str, Any] | None = None,
                        verbose: bool = False) -> MoChat:
        """Rebuild a saved model. A LoRA adapter is merged for inference; with
        `merge_adapter=False` it stays a trainable PeftModel (to continue fine-tuning it).
        `fresh_head` keeps the regression head newly initialised instead of loading it (to
        retrain a head whose layout changed on top of a trained model); `config` overrides
        saved MoChatConfig fields (e.g. {"head": "frames"} with `fresh_head`); fields the
        saved config has and MoChatConfig no longer does are ignored. Loading is quiet unless
        `verbose` (`mochat.models.llm.quiet_loading`)."""
        from mochat.models.llm import load_llm, quiet_loading

        root = Path(directory)
        if not (root / CONFIG_FILE).is_file():
            raise DataFormatError(f"{root}: not a MoChat checkpoint (no {CONFIG_FILE})")
        raw = json.loads((root / CONFIG_FILE).read_text())
        known = {f.name for f in fields(MoChatConfig)}
        settings = {k: v for k, v in raw.items() if k in known}
        unknown = set(config or {}) - known
        if unknown:
            raise ValueError(f"unknown MoChatConfig fields {sorted(unknown)}")
        settings.update(config or {})
        model_config = MoChatConfig(**settings)
        source = str(root / LLM_DIR) if (root / LLM_DIR).is_dir() else (llm or model_config.llm)
        base: Any
        base, tokenizer = load_llm(source, verbose=verbose)
        if (root / ADAPTER_DIR).is_dir():
            from peft import PeftModel

            with quiet_loading(verbose):
                base = PeftModel.from_pretrained(base, root / ADAPTER_DIR,
                                                 is_trainable=not merge_adapter)
            if merge_adapter:
                base = base.merge_and_unload()
        model = cls(model_config, load_encoder(root), base, tokenizer)
        model.load_trainable_state(root, skip=("head.",) if fresh_head else ())
        return model.eval()

    def load_trainable_state(self, directory: str | Path, *, skip: tuple[str, ...] = ()
                             ) -> None:
        """Load projector, head and frame-ID table from a checkpoint's mochat.safetensors;
        names starting with a `skip` prefix keep their current values."""
        path = Path(directory) / WEIGHTS_FILE
        state = {k: v for k, v in load_file(str(path)).items() if not k.startswith(skip)}
        missing = {k for k in self.trainable_state() if not k.startswith(skip)} - set(state)
        if missing:
            raise DataFormatError(f"{path}: missing {sorted(missing)[:5]}")
        self.load_state_dict(state, strict=False)

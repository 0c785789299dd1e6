"""Self-supervised pretraining of the skeleton encoder (`mochat train encoder`).

Samples random crops of the corpus's training motions, normalises each crop exactly as
serving does (`mochat.skeleton.normalize`), optionally shears it, and trains encoder +
DisplacementHead on the multi-interval displacement pretext task (training/pretext.py).

Output directory:
  checkpoint/encoder/            the encoder (model.safetensors + config.json), loadable
                                 with mochat.models.load_encoder(checkpoint/)
  checkpoint/head.safetensors    pretext head
  checkpoint/optimizer.safetensors, checkpoint/trainer_state.json   for --resume
  encoder/                       the final encoder, the artefact to export
  pretext.json                   pretext spec + magnitude bin edges
  log.jsonl                      one line per logged step
"""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import structlog
import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from mochat.errors import ConfigError
from mochat.models import SkeletonEncoder, build_encoder, encoder_config, load_encoder, save_encoder
from mochat.skeleton import HumanML3DCorpus, SkeletonLayout, get_layout, normalize, pad_batch
from mochat.skeleton.normalize import facing_angle
from training.pretext import (
    DisplacementHead,
    PretextLoss,
    PretextSpec,
    magnitude_edges,
    pretext_loss,
    targets,
)
from training.recipe import read_recipe

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class EncoderRecipe:
    """One pretraining run, read from YAML. Paths are relative to the working directory."""

    corpus: str
    out_dir: str
    kind: str = "jgse"
    size: str = "small"
    model: dict[str, Any] = field(default_factory=dict)  # EncoderConfig overrides
    layout: str = "smpl22"
    seed: int = 0
    steps: int = 2000
    batch_size: int = 32
    lr: float = 5e-4
    weight_decay: float = 0.05
    warmup_steps: int = 100
    lr_decay: float = 0.99  # multiplied in every `decay_every` steps after warm-up
    decay_every: int = 50
    grad_clip: float = 1.0
    window_frames: int = 64
    min_frames: int = 16
    # share of crops that span the encoder's whole window (max_frames), motions joined end
    # to end where one is too short, so every temporal position the LM feeds is trained
    long_crop_share: float = 0.0
    shear_amplitude: float = 0.3
    max_motions: int | None = None  # cap the training split (smoke runs)
    edge_samples: int = 256  # crops measured for the magnitude bin edges
    log_every: int = 20
    save_every: int = 500
    threads: int | None = None
    pretext: dict[str, Any] = field(default_factory=dict)  # PretextSpec fields
    bf16: bool = False  # the forward pass under torch.autocast bfloat16 (weights stay fp32)

    @classmethod
    def from_yaml(cls, path: str | Path) -> EncoderRecipe:
        recipe = read_recipe(cls, path)
        recipe.check()
        return recipe

    def check(self) -> None:
        if self.min_frames < 2 or self.window_frames < self.min_frames:
            raise ConfigError("need 2 <= min_frames <= window_frames")
        if self.steps < 1 or self.batch_size < 1:
            raise ConfigError("steps and batch_size must be >= 1")
        if not 0.0 <= self.long_crop_share <= 1.0:
            raise ConfigError(f"long_crop_share must be in [0, 1], got {self.long_crop_share}")

    def spec(self) -> PretextSpec:
        values: dict[str, Any] = {k: tuple(v) if k == "intervals" else v
                                  for k, v in self.pretext.items()}
        try:
            spec = PretextSpec(**values)
        except TypeError as err:
            raise ConfigError(f"pretext: {err}") from None
        if max(spec.intervals) >= self.min_frames:
            raise ConfigError(f"min_frames {self.min_frames} must exceed the longest "
                              f"interval {max(spec.intervals)}")
        return spec


class CropSampler:
    """Random normalised crops of training motions, driven by one numpy Generator whose
    state is saved with the checkpoint (so a resumed run draws the same batches)."""

    def __init__(self, motions: list[np.ndarray], recipe: EncoderRecipe, seed: int, *,
                 max_frames: int = 512) -> None:
        self.motions = [m for m in motions if len(m) >= recipe.min_frames]
        if not self.motions:
            raise ConfigError(f"no training motion has {recipe.min_frames} frames or more")
        self.recipe = recipe
        self.layout = get_layout(recipe.layout)
        self.max_frames = max_frames
        self.rng = np.random.default_rng(seed)

    def crop(self) -> np.ndarray:
        """One (T, J, 3) normalised, sheared crop: a short one (min_frames..window_frames
        of one motion), or with probability long_crop_share one of max_frames."""
        r = self.recipe
        if r.long_crop_share > 0 and self.rng.random() < r.long_crop_share:
            motion, frames = self._joined(self.max_frames), self.max_frames
        else:
            motion = self.motions[int(self.rng.integers(len(self.motions)))]
            frames = int(self.rng.integers(r.min_frames, min(r.window_frames, len(motion)) + 1))
        start = int(self.rng.integers(0, len(motion) - frames + 1))
        x = normalize(motion[start:start + frames], self.layout, max_frames=None)
        if r.shear_amplitude > 0:
            shear = np.eye(3, dtype=np.float32)
            off = ~np.eye(3, dtype=bool)
            shear[off] = self.rng.uniform(-r.shear_amplitude, r.shear_amplitude, 6)
            x = x @ shear.T
        return x.astype(np.float32)

    def _joined(self, frames: int) -> np.ndarray:
        """Random motions end to end until `frames` long: each next one turned about y to the
        facing and moved to the ground position where the previous one ends (the synthetic
        motions start and end standing, so a join looks like one action after another)."""
        parts = [self.motions[int(self.rng.integers(len(self.motions)))]]
        while sum(len(p) for p in parts) < frames:
            after = self.motions[int(self.rng.integers(len(self.motions)))]
            parts.append(continue_from(parts[-1], after, self.layout))
        return np.concatenate(parts)  # (>= frames, J, 3)

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        joints, mask = pad_batch([self.crop() for _ in range(size)])
        return torch.from_numpy(joints), torch.from_numpy(mask)


def continue_from(before: np.ndarray, after: np.ndarray, layout: SkeletonLayout) -> np.ndarray:
    """`after` (T, J, 3) turned and moved so its first frame faces and stands where the last
    frame of `before` does (rotation about y, ground-plane translation)."""
    turn = facing_angle(before[-1:], layout) - facing_angle(after[:1], layout)
    c, s = np.cos(turn), np.sin(turn)
    rot = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]], dtype=np.float32)
    out = after @ rot.T
    shift = before[-1, 0] - out[0, 0]
    shift[1] = 0.0  # heights stay the motion's own
    return (out + shift).astype(np.float32)


def load_motions(recipe: EncoderRecipe, split: str) -> list[np.ndarray]:
    corpus = HumanML3DCorpus(recipe.corpus)
    ids = corpus.ids(split)
    if recipe.max_motions is not None:
        ids = ids[:recipe.max_motions]
    return [corpus.load(i).joints for i in ids]


@dataclass
class Pretrainer:
    """Encoder + head + optimiser, with the step counter and sampler they advance."""

    recipe: EncoderRecipe
    encoder: SkeletonEncoder
    head: DisplacementHead
    optimizer: torch.optim.Optimizer
    sampler: CropSampler
    spec: PretextSpec
    edges: torch.Tensor  # (K, num_bins - 1)
    step: int = 0

    def lr_at(self, step: int) -> float:
        r = self.recipe
        if step < r.warmup_steps:
            return r.lr * (step + 1) / r.warmup_steps
        return r.lr * r.lr_decay ** ((step - r.warmup_steps) // r.decay_every)

    def train_step(self) -> PretextLoss:
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr_at(self.step)
        joints, mask = self.sampler.batch(self.recipe.batch_size)
        dir_labels, mag_labels = targets(joints, mask, self.spec, self.edges)
        with torch.autocast(joints.device.type, dtype=torch.bfloat16, enabled=self.recipe.bf16):
            dir_logits, mag_logits = self.head(self.encoder(joints, mask))
        out = pretext_loss(dir_logits.float(), mag_logits.float(), dir_labels, mag_labels,
                           self.spec)
        self.optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        params = [*self.encoder.parameters(), *self.head.parameters()]
        torch.nn.utils.clip_grad_norm_(params, self.recipe.grad_clip)
        self.optimizer.step()
        self.step += 1
        return out


def build_pretrainer(recipe: EncoderRecipe) -> Pretrainer:
    """Fresh model, head and optimiser; bin edges measured on crops of the training split."""
    torch.manual_seed(recipe.seed)
    spec = recipe.spec()
    layout = get_layout(recipe.layout)
    config = encoder_config(recipe.size, **recipe.model)
    encoder = build_encoder(recipe.kind, config, layout)
    head = DisplacementHead(encoder.feature_dim, layout.num_joints, spec)
    sampler = CropSampler(load_motions(recipe, "train"), recipe, recipe.seed,
                          max_frames=config.max_frames)
    probe = CropSampler(sampler.motions, recipe, recipe.seed + 1,  # edges: separate stream
                        max_frames=config.max_frames)
    edges = magnitude_edges([probe.crop() for _ in range(recipe.edge_samples)], spec)
    optimizer = torch.optim.AdamW([*encoder.parameters(), *head.parameters()], lr=recipe.lr,
                                  weight_decay=recipe.weight_decay)
    return Pretrainer(recipe, encoder, head, optimizer, sampler, spec,
                      torch.tensor(edges, dtype=torch.float32))


def save_checkpoint(trainer: Pretrainer, directory: Path) -> None:
    """Everything --resume needs, written to a temporary dir then renamed into place."""
    tmp = directory.with_name(directory.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    save_encoder(trainer.encoder, tmp / "encoder")
    save_file({k: v.contiguous() for k, v in trainer.head.state_dict().items()},
              str(tmp / "head.safetensors"))
    opt = trainer.optimizer.state_dict()
    tensors = {f"state.{i}.{k}": v for i, s in opt["state"].items() for k, v in s.items()}
    tensors["torch_rng"] = torch.get_rng_state()
    save_file(tensors, str(tmp / "optimizer.safetensors"))
    state = {"step": trainer.step, "param_groups": opt["param_groups"],
             "sampler_rng": trainer.sampler.rng.bit_generator.state,
             "edges": trainer.edges.tolist(), "recipe": asdict(trainer.recipe)}
    (tmp / "trainer_state.json").write_text(json.dumps(state, indent=1) + "\n")
    if directory.exists():
        old = directory.with_name(directory.name + ".old")
        directory.rename(old)
        tmp.rename(directory)
        shutil.rmtree(old)
    else:
        tmp.rename(directory)


def resume(trainer: Pretrainer, directory: Path) -> None:
    """Load weights, optimiser, RNG states and step from a checkpoint directory."""
    if not (directory / "trainer_state.json").is_file():
        raise ConfigError(f"--resume: no checkpoint in {directory}")
    state = json.loads((directory / "trainer_state.json").read_text())
    trainer.encoder.load_state_dict(load_encoder(directory).state_dict())
    trainer.head.load_state_dict(load_file(str(directory / "head.safetensors")))
    tensors = load_file(str(directory / "optimizer.safetensors"))
    torch.set_rng_state(tensors.pop("torch_rng"))
    per_param: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        _, index, name = key.split(".", 2)
        per_param.setdefault(int(index), {})[name] = value
    trainer.optimizer.load_state_dict({"state": per_param, "param_groups": state["param_groups"]})
    trainer.sampler.rng.bit_generator.state = state["sampler_rng"]
    trainer.edges = torch.tensor(state["edges"], dtype=torch.float32)
    trainer.step = int(state["step"])


def train(recipe: EncoderRecipe, *, resume_run: bool = False, progress: bool = True
          ) -> Pretrainer:
    """Run (or continue) the recipe to `recipe.steps`; returns the trainer at the end."""
    if recipe.threads:
        torch.set_num_threads(recipe.threads)
    out = Path(recipe.out_dir)
    if resume_run and not (out / "checkpoint" / "trainer_state.json").is_file():
        raise ConfigError(f"--resume: no checkpoint in {out / 'checkpoint'}")
    out.mkdir(parents=True, exist_ok=True)
    trainer = build_pretrainer(recipe)
    if resume_run:
        resume(trainer, out / "checkpoint")
        log.info("resumed", step=trainer.step, out_dir=str(out))
    (out / "pretext.json").write_text(json.dumps(
        {"spec": asdict(trainer.spec), "edges": trainer.edges.tolist()}, indent=1) + "\n")
    trainer.encoder.train()
    trainer.head.train()
    bar = tqdm(total=recipe.steps, initial=trainer.step, disable=not progress,
               desc=f"pretrain {recipe.kind}", unit="step")
    with (out / "log.jsonl").open("a") as log_file:
        while trainer.step < recipe.steps:
            result = trainer.train_step()
            loss = float(result.loss.detach())
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}", dir=f"{result.direction_acc:.2f}")
            if trainer.step % recipe.log_every == 0 or trainer.step == recipe.steps:
                row = {"step": trainer.step, "loss": loss,
                       "direction_loss": result.direction_loss,
                       "magnitude_loss": result.magnitude_loss,
                       "direction_acc": result.direction_acc,
                       "magnitude_acc": result.magnitude_acc,
                       "lr": trainer.lr_at(trainer.step - 1)}
                log_file.write(json.dumps(row) + "\n")
                log_file.flush()
            if trainer.step % recipe.save_every == 0 or trainer.step == recipe.steps:
                save_checkpoint(trainer, out / "checkpoint")
    bar.close()
    save_encoder(trainer.encoder.eval(), out / "encoder")
    log.info("pretraining done", step=trainer.step, encoder=str(out / "encoder"))
    return trainer


def run(args: argparse.Namespace) -> int:
    recipe = EncoderRecipe.from_yaml(args.config)
    train(recipe, resume_run=args.resume, progress=not args.no_progress)
    return 0

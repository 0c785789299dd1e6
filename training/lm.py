"""MoChat's two instruction-tuning stages (`mochat train align|finetune --config RECIPE`).

Stage 1 (align): projector + regression head (+ frame-ID table) learn; LLM and encoder are
frozen. Stage 2 (finetune): the LLM learns too, fully or through LoRA adapters (peft), with
the encoder still frozen. Both read the same multi-task dialogues, sample shuffled batches,
use AdamW with warm-up + cosine decay, checkpoint atomically and resume exactly, and end by
evaluating all three tasks on the test dialogues (training/lm_eval.py).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import structlog
import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from mochat.dialogue.build import TASKS as MOTION_TASKS
from mochat.errors import ConfigError
from mochat.models.checkpoint import load_encoder
from mochat.models.llm import load_llm, quiet_loading
from mochat.models.mochat import MoChat, MoChatConfig, MoChatOutput
from training.lm_data import (
    GAP_KINDS,
    Batch,
    collate,
    encode_corpus,
    gap_kinds,
    mirror_dialogue,
    read_dialogues,
    span_rows,
    swap_other_sides,
    variant_base,
)
from training.recipe import read_recipe

log = structlog.get_logger(__name__)
STAGES = ("align", "finetune", "head")


@dataclass(frozen=True)
class LMRecipe:
    """One instruction-tuning run, read from YAML."""

    stage: str
    corpus: str
    dialogues: str  # `mochat dialogues` output: <split>/<task>.jsonl
    out_dir: str
    encoder: str = ""  # encoder checkpoint (align); finetune starts from `init`
    init: str = ""  # a MoChat checkpoint to start from (finetune: the align output)
    model: dict[str, Any] = field(default_factory=dict)  # MoChatConfig fields (init: overrides)
    tasks: list[str] | None = None
    limit_per_task: int | None = None
    seed: int = 0
    steps: int = 500
    batch_size: int = 4
    grad_accum: int = 1
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_ratio: float = 0.03
    grad_clip: float = 1.0
    lora: dict[str, Any] | None = None  # {r, alpha, dropout, target_modules}; None = full
    oversample: dict[str, int] = field(default_factory=dict)  # task -> repeat factor
    mirror: list[str] = field(default_factory=list)  # tasks that also train on mirror images
    # Gap questions also train with the caption's other side words swapped, answer kept
    # (`swap_other_sides`): the text then says nothing about the blanked side.
    swap_gap_sides: bool = False
    # Each row shares its batch with its mirror image and side-swapped version: they differ
    # in the side the motion shows, the answer, or neither, so their summed gradient leaves
    # what the motion says, not the text.
    pair_variants: bool = False
    # gap kind (training.lm_data.GAP_KINDS) -> repeat factor, on top of `oversample`
    gap_oversample: dict[str, int] = field(default_factory=dict)
    fresh_head: bool = False  # finetune: start the regression head anew instead of `init`'s
    head_lr: float | None = None  # the head's peak learning rate (default: lr)
    ce_per_sample: bool = False  # CE averaged per answer, then per batch (not per token)
    # Forward passes under torch.autocast to bfloat16 (weights, optimizer and gradients
    # stay fp32). 1.7-1.9x faster steps on a CPU with AVX512-BF16 (BENCHMARKS.md); on one
    # without, bf16 matmuls are emulated and slower.
    bf16: bool = False
    log_every: int = 10
    save_every: int = 100
    eval_per_task: int = 40
    eval_max_new_tokens: int = 40
    eval_seed: int = 0  # which test dialogues are scored: fixed, so runs compare
    threads: int | None = None

    @classmethod
    def from_yaml(cls, path: str | Path) -> LMRecipe:
        recipe = read_recipe(cls, path)
        if recipe.stage not in STAGES:
            raise ConfigError(f"{path}: unknown stage {recipe.stage!r}; expected {STAGES}")
        if recipe.stage == "align" and not recipe.encoder:
            raise ConfigError(f"{path}: stage 'align' needs an encoder checkpoint")
        if unknown := sorted(set(recipe.mirror) - set(MOTION_TASKS)):
            raise ConfigError(f"{path}: cannot mirror {unknown}; `mirror` takes motion tasks "
                              f"{MOTION_TASKS}")
        if unknown := sorted(set(recipe.gap_oversample) - set(GAP_KINDS)):
            raise ConfigError(f"{path}: unknown gap kinds {unknown} in `gap_oversample`; "
                              f"expected some of {GAP_KINDS}")
        if recipe.stage in ("finetune", "head") and not recipe.init:
            raise ConfigError(f"{path}: stage {recipe.stage!r} needs `init` (a MoChat "
                              "checkpoint)")
        return recipe


def build_model(recipe: LMRecipe) -> MoChat:
    """A fresh (align) or initialised (finetune) model with the stage's trainable set."""
    if recipe.stage == "align":
        config = MoChatConfig(**recipe.model)
        llm, tokenizer = load_llm(config.llm)
        model = MoChat(config, load_encoder(recipe.encoder), llm, tokenizer)
        model.llm.requires_grad_(False)
        return model
    model = MoChat.from_pretrained(recipe.init, merge_adapter=False,
                                   fresh_head=recipe.fresh_head, config=recipe.model)
    if hasattr(model.llm, "peft_config"):  # continue the init's own adapter
        if recipe.lora is None:
            raise ConfigError(f"init {recipe.init} holds a LoRA adapter: continue it with "
                              "`lora:` in the recipe, or merge it first")
        own: Any = model.llm.peft_config["default"]  # a LoraConfig; peft types it loosely
        for key, name in (("r", "r"), ("alpha", "lora_alpha")):
            if key in recipe.lora and recipe.lora[key] != getattr(own, name):
                raise ConfigError(f"init {recipe.init}: its adapter has {key} "
                                  f"{getattr(own, name)}; a continued adapter keeps it (the "
                                  f"recipe asks for {recipe.lora[key]})")
        targets = recipe.lora.get("target_modules")
        if targets and set(targets) != set(own.target_modules):
            raise ConfigError(f"init {recipe.init}: its adapter targets "
                              f"{sorted(own.target_modules)}; a continued adapter keeps them "
                              f"(the recipe asks for {sorted(targets)})")
    elif recipe.lora is not None:
        from peft import LoraConfig, get_peft_model

        spec = {"r": 16, "alpha": 32, "dropout": 0.05,
                "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"], **recipe.lora}
        with quiet_loading():  # peft's read of a deprecated transformers alias
            adapted = get_peft_model(model.llm, LoraConfig(
                r=spec["r"], lora_alpha=spec["alpha"], lora_dropout=spec["dropout"],
                target_modules=spec["target_modules"], task_type="CAUSAL_LM"))
        model.llm = adapted  # type: ignore[assignment]  # a PeftModel forwards to the LM
    else:
        model.llm.requires_grad_(True)
    return model


def lr_at(recipe: LMRecipe, step: int) -> float:
    """Linear warm-up over warmup_ratio of the steps, then cosine to 0."""
    warmup = max(1, int(recipe.warmup_ratio * recipe.steps))
    if step < warmup:
        return recipe.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, recipe.steps - warmup)
    return recipe.lr * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def save_checkpoint(model: MoChat, optimizer: torch.optim.Optimizer, step: int,
                    order: list[int], directory: Path) -> None:
    """Model + optimiser + step + data order, into a temp dir renamed into place."""
    tmp = directory.with_name(directory.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp / "model")
    opt = optimizer.state_dict()
    tensors = {f"state.{i}.{k}": v.contiguous() for i, s in opt["state"].items()
               for k, v in s.items() if torch.is_tensor(v)}
    tensors["torch_rng"] = torch.get_rng_state()
    save_file(tensors, str(tmp / "optimizer.safetensors"))
    steps = {str(i): int(s["step"]) for i, s in opt["state"].items() if "step" in s}
    (tmp / "trainer_state.json").write_text(json.dumps(
        {"step": step, "order": order, "adam_steps": steps,
         "param_groups": opt["param_groups"]}) + "\n")
    if directory.exists():
        shutil.rmtree(directory)
    tmp.rename(directory)


def _restore(model: MoChat, optimizer: torch.optim.Optimizer, directory: Path
             ) -> tuple[int, list[int]]:
    state = json.loads((directory / "trainer_state.json").read_text())
    model.load_trainable_state(directory / "model")  # the LLM and encoder are already built
    if hasattr(model.llm, "peft_config") or any(p.requires_grad for p in model.llm.parameters()):
        _load_llm_weights(model, directory / "model")
    tensors = load_file(str(directory / "optimizer.safetensors"))
    torch.set_rng_state(tensors.pop("torch_rng"))
    per_param: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        _, index, name = key.split(".", 2)
        per_param.setdefault(int(index), {})[name] = value
    for index, count in state["adam_steps"].items():
        per_param.setdefault(int(index), {})["step"] = torch.tensor(float(count))
    optimizer.load_state_dict({"state": per_param, "param_groups": state["param_groups"]})
    return int(state["step"]), list(state["order"])


def _load_llm_weights(model: MoChat, directory: Path) -> None:
    if hasattr(model.llm, "peft_config"):
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(model.llm, load_file(str(directory / "adapter" /
                                                           "adapter_model.safetensors")))
    else:
        from transformers import AutoModelForCausalLM

        with quiet_loading():
            weights = AutoModelForCausalLM.from_pretrained(directory / "llm").state_dict()
        model.llm.load_state_dict(weights)


def forward(model: MoChat, batch: Batch, recipe: LMRecipe) -> MoChatOutput:
    """One training forward pass (loss included) as the recipe runs it: bf16 autocast on
    the model's device when `recipe.bf16`."""
    device = next(model.parameters()).device.type  # "cpu", "cuda"
    with torch.autocast(device, dtype=torch.bfloat16, enabled=recipe.bf16):
        return model(batch.features, batch.feature_mask, batch.input_ids, batch.attention_mask,
                     batch.labels, batch.spans, batch.span_mask,
                     ce_per_sample=recipe.ce_per_sample)


def training_rows(recipe: LMRecipe) -> list[dict]:
    """The recipe's training dialogues: mirrored, then repeated per task and per gap kind.
    A multi-turn dialogue with spans on earlier answers adds one row per such answer
    (`span_rows`), so the head trains on every "when" turn, not only the last."""
    rows = read_dialogues(recipe.dialogues, "train", tasks=recipe.tasks,
                          limit_per_task=recipe.limit_per_task, seed=recipe.seed)
    rows += [extra for r in rows for extra in span_rows(r)]
    if recipe.swap_gap_sides:
        rows += [s for r in rows if (s := swap_other_sides(r)) is not None]
    rows += [mirror_dialogue(r) for r in rows if r.get("task") in recipe.mirror]
    for task, factor in recipe.oversample.items():  # e.g. the small general set
        rows += [r for r in rows if r.get("task") == task] * (factor - 1)
    if recipe.gap_oversample:  # e.g. side steps and turns, the kinds read wrong
        kinds = list(zip(rows, gap_kinds(rows, recipe.corpus), strict=True))
        for kind, factor in recipe.gap_oversample.items():
            picked = [r for r, k in kinds if k == kind]
            rows += picked * (factor - 1)
            log.info("gap dialogues oversampled", kind=kind, rows=len(picked), factor=factor)
    return rows


def sample_groups(rows: Sequence[dict], pair_variants: bool) -> list[list[int]]:
    """Row indices in the units an epoch shuffles: single rows, or (`pair_variants`) each
    row beside its mirror image and side-swapped versions; the n-th copy `oversample` made
    of one goes with the n-th copy of the others."""
    if not pair_variants:
        return [[i] for i in range(len(rows))]
    seen: Counter[str] = Counter()
    groups: dict[tuple[str, int], list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        row_id = str(row.get("id"))
        groups[(variant_base(row_id), seen[row_id])].append(i)
        seen[row_id] += 1
    return list(groups.values())


def epoch_order(groups: Sequence[Sequence[int]], rng: random.Random) -> list[int]:
    """One epoch of row indices: the groups shuffled, each group's rows side by side."""
    perm = list(range(len(groups)))
    rng.shuffle(perm)
    return [i for g in perm for i in groups[g]]


def train(recipe: LMRecipe, *, resume_run: bool = False, progress: bool = True) -> MoChat:
    """Run (or continue) a stage to `recipe.steps`; writes OUT_DIR/model and metrics."""
    if recipe.threads:
        torch.set_num_threads(recipe.threads)
    random.seed(recipe.seed)
    torch.manual_seed(recipe.seed)
    out = Path(recipe.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = build_model(recipe)
    rows = training_rows(recipe)
    groups = sample_groups(rows, recipe.pair_variants)
    features = encode_corpus(model.encoder, recipe.corpus, (r["motion_id"] for r in rows),
                             progress=progress)
    head = [p for n, p in model.named_parameters() if p.requires_grad and n.startswith("head.")]
    rest = [p for n, p in model.named_parameters()
            if p.requires_grad and not n.startswith("head.")]
    params = rest + head
    # group 0: everything else at `lr`; group 1: the head at `head_lr` (same schedule)
    head_scale = (recipe.head_lr or recipe.lr) / recipe.lr
    optimizer = torch.optim.AdamW([{"params": rest, "scale": 1.0},
                                   {"params": head, "scale": head_scale}],
                                  lr=recipe.lr, weight_decay=recipe.weight_decay)
    rng = random.Random(recipe.seed)
    order: list[int] = []
    step = 0
    if resume_run:
        if not (out / "checkpoint" / "trainer_state.json").is_file():
            raise ConfigError(f"--resume: no checkpoint in {out / 'checkpoint'}")
        step, order = _restore(model, optimizer, out / "checkpoint")
        log.info("resumed", step=step, out_dir=str(out))
    model.train()
    model.encoder.eval()
    bar = tqdm(total=recipe.steps, initial=step, disable=not progress,
               desc=f"{recipe.stage}", unit="step")
    per_step = recipe.batch_size * recipe.grad_accum
    with (out / "log.jsonl").open("a") as log_file:
        while step < recipe.steps:
            while len(order) < per_step:  # epochs: a fresh permutation when one runs out
                order += epoch_order(groups, rng)
            for group in optimizer.param_groups:
                group["lr"] = lr_at(recipe, step) * group["scale"]
            optimizer.zero_grad(set_to_none=True)
            stats = {"loss": 0.0, "ce": 0.0, "diou": 0.0}
            for _ in range(recipe.grad_accum):
                chunk, order = order[:recipe.batch_size], order[recipe.batch_size:]
                batch = collate([rows[i] for i in chunk], features, model.tokenizer,
                                model.config.pool_frames,
                                frame_tokens=model.config.frame_tokens)
                result = forward(model, batch, recipe)
                loss, ce = result.loss, result.ce_loss
                assert loss is not None and ce is not None  # labels given: both are computed
                (loss / recipe.grad_accum).backward()
                stats["loss"] += loss.item() / recipe.grad_accum
                stats["ce"] += ce.item() / recipe.grad_accum
                if result.diou_loss is not None:
                    stats["diou"] += result.diou_loss.item() / recipe.grad_accum
            torch.nn.utils.clip_grad_norm_(params, recipe.grad_clip)
            optimizer.step()
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{stats['loss']:.3f}", diou=f"{stats['diou']:.3f}")
            if step % recipe.log_every == 0 or step == recipe.steps:
                log_file.write(json.dumps({"step": step, **stats,
                                           "lr": lr_at(recipe, step - 1)}) + "\n")
                log_file.flush()
            if step % recipe.save_every == 0 or step == recipe.steps:
                save_checkpoint(model, optimizer, step, order, out / "checkpoint")
    bar.close()
    model.eval()
    model.save_pretrained(out / "model")
    (out / "recipe.json").write_text(json.dumps(asdict(recipe), indent=1) + "\n")
    log.info("stage done", stage=recipe.stage, step=step, model=str(out / "model"))
    return model


def run(args: argparse.Namespace) -> int:
    from training.lm_eval import evaluate_model

    recipe = LMRecipe.from_yaml(args.config)
    model = train(recipe, resume_run=args.resume, progress=not args.no_progress)
    if recipe.eval_per_task > 0:
        metrics = evaluate_model(model, recipe.corpus, recipe.dialogues,
                                 per_task=recipe.eval_per_task,
                                 max_new_tokens=recipe.eval_max_new_tokens,
                                 seed=recipe.eval_seed)
        (Path(recipe.out_dir) / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
        print(json.dumps(metrics, indent=1))  # noqa: T201 - the run's result for the user
    return 0

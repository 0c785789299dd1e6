"""`mochat train head --config RECIPE`: fit the regression head alone on a trained MoChat.

Everything but the head is frozen, so each temporal dialogue's LLM states are computed once
(one forward pass, no gradient) and kept in memory; the head then trains on them for as many
steps as the recipe asks. That is minutes where training the head inside a fine-tune costs
an LLM forward and backward per step. The "frames" head reads the prompt's states only, so
what it learns from here is what it sees at inference.

Use it after the last fine-tune (the head reads the LLM's final states, so a later change to
the LLM needs the head refitted) or to put a different head (`model: {head: frames}` with
`fresh_head: true`) on a trained model.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import structlog
import torch
from torch import Tensor
from tqdm import tqdm

from mochat.errors import ConfigError, DataFormatError
from mochat.metrics import frame_iou, temporal_recall
from mochat.models.mochat import LLM_DIR, MoChat
from training.lm import LMRecipe, lr_at
from training.lm_data import collate, encode_corpus, mirror_dialogue, read_dialogues

log = structlog.get_logger(__name__)
CACHE_BATCH = 16  # dialogues per forward pass while caching states


@dataclass
class CachedDialogue:
    """What the head reads for one dialogue (float16 to halve the memory)."""

    hidden: Tensor  # (L, D) the states the head may read (the prompt's, for "frames")
    tokens: Tensor  # (N, D) projected motion tokens
    frames: int  # motion length in frames
    span: Tensor  # (2,) ground-truth frames


@torch.no_grad()
def cache_states(model: MoChat, rows: list[dict], features: dict[str, Tensor], *,
                 progress: bool = True) -> list[CachedDialogue]:
    """One forward pass per dialogue; keeps the states `model.head_text_mask` allows."""
    out: list[CachedDialogue] = []
    for i in tqdm(range(0, len(rows), CACHE_BATCH), disable=not progress, desc="cache",
                  unit="batch"):
        batch = collate(rows[i:i + CACHE_BATCH], features, model.tokenizer,
                        model.config.pool_frames, frame_tokens=model.config.frame_tokens)
        embeds, tokens, token_mask = model.build_inputs(batch.features, batch.feature_mask,
                                                        batch.input_ids)
        hidden = model.llm(inputs_embeds=embeds, attention_mask=batch.attention_mask,
                           output_hidden_states=True, logits_to_keep=1).hidden_states[-1]
        keep = model.head_text_mask(batch.attention_mask, labels=batch.labels)
        for k in range(len(batch.input_ids)):
            out.append(CachedDialogue(hidden[k, keep[k]].half(),
                                      tokens[k, token_mask[k]].half(),
                                      int(batch.feature_mask[k].sum()), batch.spans[k].clone()))
    return out


def stack(items: list[CachedDialogue]) -> tuple[Tensor, ...]:
    """Right-padded tensors for `MoChat._head`: hidden, text mask, tokens, token mask,
    feature mask, spans."""
    b, dim = len(items), items[0].hidden.shape[1]
    length = max(x.hidden.shape[0] for x in items)
    n = max(x.tokens.shape[0] for x in items)
    t = max(x.frames for x in items)
    hidden, tokens = torch.zeros(b, length, dim), torch.zeros(b, n, dim)
    text_mask = torch.zeros(b, length, dtype=torch.bool)
    token_mask = torch.zeros(b, n, dtype=torch.bool)
    feature_mask = torch.zeros(b, t, dtype=torch.bool)
    for i, x in enumerate(items):
        hidden[i, :x.hidden.shape[0]], text_mask[i, :x.hidden.shape[0]] = x.hidden.float(), True
        tokens[i, :x.tokens.shape[0]], token_mask[i, :x.tokens.shape[0]] = x.tokens.float(), True
        feature_mask[i, :x.frames] = True
    spans = torch.stack([x.span for x in items])
    return hidden, text_mask, tokens, token_mask, feature_mask, spans


def head_step(model: MoChat, items: list[CachedDialogue]) -> tuple[Tensor, Tensor, dict]:
    """-> (loss, predicted spans in frames, loss parts) for a batch of cached dialogues."""
    hidden, text_mask, tokens, token_mask, feature_mask, spans = stack(items)
    wanted = torch.ones(len(items), dtype=torch.bool)
    pred, diou, boundary = model._head(tokens, token_mask, hidden, text_mask, feature_mask,
                                       (spans, wanted))
    assert diou is not None
    loss = model.config.diou_weight * diou
    parts = {"diou": diou.item()}
    if boundary is not None:
        loss = loss + model.config.boundary_weight * boundary
        parts["boundary"] = boundary.item()
    return loss, pred, parts


@torch.no_grad()
def head_recall(model: MoChat, items: list[CachedDialogue]) -> dict[str, float]:
    """R@1 of the head's spans on cached dialogues: rounded to frames as the pipeline
    rounds them, scored over inclusive frame numbers (`frame_iou`)."""
    preds, truth = [], []
    for i in range(0, len(items), 64):
        chunk = items[i:i + 64]
        hidden, text_mask, tokens, token_mask, feature_mask, spans = stack(chunk)
        spans_pred = model.head_spans(tokens, token_mask, hidden, text_mask, feature_mask)
        if spans_pred is None:  # temporal dialogues are about a motion; this cache is not
            raise DataFormatError("cached temporal dialogues without motion tokens")
        preds += [(float(s), float(e)) for s, e in spans_pred.round().tolist()]
        truth += [(float(s), float(e)) for s, e in spans.tolist()]
    return temporal_recall(preds, truth, iou=frame_iou)


def build_head_model(recipe: LMRecipe) -> MoChat:
    """The init model, frozen but for its head; `model:` may change the head's settings."""
    head_keys = {"head", "head_hidden", "diou_weight", "boundary_weight"}
    other = set(recipe.model) - head_keys
    if other:
        raise ConfigError(f"stage 'head' may change only {sorted(head_keys)} of the model, "
                          f"not {sorted(other)}")
    if {"head", "head_hidden"} & set(recipe.model) and not recipe.fresh_head:
        raise ConfigError("changing the head's layout (head, head_hidden) needs "
                          "`fresh_head: true`")
    model = MoChat.from_pretrained(recipe.init, merge_adapter=False,
                                   fresh_head=recipe.fresh_head, config=recipe.model)
    if model.head is None:
        raise ConfigError(f"{recipe.init}: the model has no regression head (CFT or neither)")
    model.requires_grad_(False)
    model.head.requires_grad_(True)
    return model.eval()


def train_head(recipe: LMRecipe, *, progress: bool = True) -> MoChat:
    random.seed(recipe.seed)
    torch.manual_seed(recipe.seed)
    out = Path(recipe.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = build_head_model(recipe)
    rows = [r for r in read_dialogues(recipe.dialogues, "train", tasks=recipe.tasks or
                                      ["temporal"], limit_per_task=recipe.limit_per_task,
                                      seed=recipe.seed) if r.get("span")]
    if not rows:
        raise ConfigError(f"{recipe.dialogues}: no training dialogues with a span")
    rows += [mirror_dialogue(r) for r in rows if r.get("task") in recipe.mirror]
    val = [r for r in read_dialogues(recipe.dialogues, "val", tasks=["temporal"])
           if r.get("span")]
    features = encode_corpus(model.encoder, recipe.corpus,
                             (r["motion_id"] for r in rows + val), progress=progress)
    cached = cache_states(model, rows, features, progress=progress)
    cached_val = cache_states(model, val, features, progress=progress)
    assert model.head is not None
    optimizer = torch.optim.AdamW(model.head.parameters(), lr=recipe.head_lr or recipe.lr,
                                  weight_decay=recipe.weight_decay)
    peak = recipe.head_lr or recipe.lr
    rng = random.Random(recipe.seed)
    model.head.train()
    with (out / "log.jsonl").open("w") as log_file:
        for step in tqdm(range(recipe.steps), disable=not progress, desc="head", unit="step"):
            for group in optimizer.param_groups:
                group["lr"] = lr_at(recipe, step) * peak / recipe.lr
            loss, _, parts = head_step(model, rng.sample(cached, min(recipe.batch_size,
                                                                    len(cached))))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.head.parameters(), recipe.grad_clip)
            optimizer.step()
            done = step + 1
            if done % recipe.log_every == 0 or done == recipe.steps:
                entry = {"step": done, "loss": loss.item(), **parts}
                if val and (done % (recipe.log_every * 10) == 0 or done == recipe.steps):
                    model.head.eval()
                    entry["val"] = head_recall(model, cached_val)
                    model.head.train()
                log_file.write(json.dumps(entry) + "\n")
                log_file.flush()
    model.head.eval()
    model.save_pretrained(out / "model")
    if (Path(recipe.init) / LLM_DIR).is_dir():  # a fully fine-tuned LLM travels along
        shutil.copytree(Path(recipe.init) / LLM_DIR, out / "model" / LLM_DIR,
                        dirs_exist_ok=True)
    (out / "recipe.json").write_text(json.dumps(asdict(recipe), indent=1) + "\n")
    log.info("stage done", stage="head", steps=recipe.steps, model=str(out / "model"))
    return model


def run(args: argparse.Namespace) -> int:
    from training.lm_eval import evaluate_model

    recipe = LMRecipe.from_yaml(args.config)
    if args.resume:
        raise ConfigError("stage 'head' keeps no checkpoints (it takes minutes): run it again")
    model = train_head(recipe, progress=not args.no_progress)
    if recipe.eval_per_task > 0:
        metrics = evaluate_model(model, recipe.corpus, recipe.dialogues,
                                 per_task=recipe.eval_per_task,
                                 max_new_tokens=recipe.eval_max_new_tokens,
                                 seed=recipe.eval_seed)
        (Path(recipe.out_dir) / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
        print(json.dumps(metrics, indent=1))  # noqa: T201 - the run's result for the user
    return 0

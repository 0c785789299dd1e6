"""`mochat train ablation --config RECIPE`: the paper's ablation rows on one shared schedule.

Every row runs stage 1 (align) then stage 2 (LoRA fine-tune) with the same steps, batch,
learning rates, seed and data, and differs only in what the row's `model`/`encoder` say
(GLTE vs JGSE, regression head vs frame-ID tokens vs neither, pooling factor). Each row is
evaluated on the same test dialogues; the stage-1-only row is the first row's align output.

Rows are independent runs under OUT_DIR/<row>/{align,finetune}; a finished stage (its
`model/` exists) is skipped and an interrupted one resumes from its checkpoint, so the whole
table can be rerun after a crash or a stop without repeating work. Results go to
OUT_DIR/results.json and OUT_DIR/results.md (the table BENCHMARKS.md quotes).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from mochat.errors import ConfigError
from training.lm import LMRecipe, train
from training.recipe import read_recipe

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class AblationRecipe:
    """The shared schedule plus one entry per row: {name, encoder?, model?}."""

    corpus: str
    dialogues: str
    out_dir: str
    encoder: str
    rows: list[dict[str, Any]]
    model: dict[str, Any] = field(default_factory=dict)  # shared MoChatConfig fields
    stage_one_only: bool = True  # also evaluate the first row after align alone
    tasks: list[str] | None = None
    oversample: dict[str, int] = field(default_factory=dict)
    seed: int = 0
    batch_size: int = 8
    align_steps: int = 60
    align_lr: float = 1e-3
    finetune_steps: int = 90
    finetune_lr: float = 2e-4
    lora: dict[str, Any] = field(default_factory=dict)
    eval_per_task: int = 40
    eval_max_new_tokens: int = 32

    @classmethod
    def from_yaml(cls, path: str | Path) -> AblationRecipe:
        recipe = read_recipe(cls, path)
        names = [row.get("name") for row in recipe.rows]
        if not names or not all(names) or len(set(names)) != len(names):
            raise ConfigError(f"{path}: every row needs a unique `name`")
        for row in recipe.rows:
            unknown = sorted(set(row) - {"name", "encoder", "model"})
            if unknown:
                raise ConfigError(f"{path}: row {row['name']!r} has unknown keys {unknown}")
        return recipe

    def stages(self, row: dict[str, Any]) -> tuple[LMRecipe, LMRecipe]:
        """The row's align and finetune recipes: the shared schedule, the row's model."""
        out = Path(self.out_dir) / row["name"]
        common: dict[str, Any] = {
            "corpus": self.corpus, "dialogues": self.dialogues, "tasks": self.tasks,
            "seed": self.seed, "batch_size": self.batch_size, "oversample": self.oversample,
            "log_every": 5, "save_every": 20, "eval_per_task": 0}
        align = LMRecipe(stage="align", out_dir=str(out / "align"),
                         encoder=row.get("encoder", self.encoder),
                         model={**self.model, **row.get("model", {})},
                         steps=self.align_steps, lr=self.align_lr, **common)
        finetune = LMRecipe(stage="finetune", out_dir=str(out / "finetune"),
                            init=str(out / "align" / "model"), lora=dict(self.lora),
                            steps=self.finetune_steps, lr=self.finetune_lr, **common)
        return align, finetune


def _run_stage(recipe: LMRecipe, progress: bool) -> float:
    """Train one stage unless its model exists; the wall seconds it took (0 if skipped)."""
    out = Path(recipe.out_dir)
    if (out / "model" / "mochat_config.json").is_file():
        return 0.0
    start = time.perf_counter()
    resume = (out / "checkpoint" / "trainer_state.json").is_file()
    train(recipe, resume_run=resume, progress=progress)
    return time.perf_counter() - start


def _evaluate(recipe: AblationRecipe, model_dir: Path, out: Path) -> dict[str, Any]:
    """Metrics of one model, cached in OUT/metrics.json."""
    if (out / "metrics.json").is_file():
        result: dict[str, Any] = json.loads((out / "metrics.json").read_text())
        return result
    from mochat.models.mochat import MoChat
    from training.lm_eval import evaluate_model

    model = MoChat.from_pretrained(model_dir)
    metrics = evaluate_model(model, recipe.corpus, recipe.dialogues,
                             per_task=recipe.eval_per_task,
                             max_new_tokens=recipe.eval_max_new_tokens, seed=recipe.seed)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    return metrics


def _table_row(name: str, metrics: dict[str, Any], minutes: float | None) -> str:
    c, s, t = metrics["captions"], metrics["spatial"], metrics["temporal"]
    took = "-" if minutes is None else f"{minutes:.0f}"
    return (f"| {name} | {c['bleu_4']:.2f} | {c['rouge_l']:.2f} | {c['cider']:.2f} | "
            f"{c.get('bertscore_minilm', float('nan')):.2f} | {s['accuracy']:.2f} | "
            f"{t['r1_iou_0.3']:.2f} | {t['r1_iou_0.5']:.2f} | {t['r1_iou_0.7']:.2f} | {took} |")


def run(args: argparse.Namespace) -> int:
    recipe = AblationRecipe.from_yaml(args.config)
    out = Path(recipe.out_dir)
    results: dict[str, Any] = {}
    lines = ["| row | BLEU@4 | ROUGE-L | CIDEr | BERTScore | left/right | R@1 0.3 | 0.5 | 0.7 "
             "| train min |", "|---|---|---|---|---|---|---|---|---|---|"]
    timings_path = out / "timings.json"
    timings: dict[str, float] = (json.loads(timings_path.read_text())
                                 if timings_path.is_file() else {})
    for n, row in enumerate(recipe.rows):
        align, finetune = recipe.stages(row)
        for stage in (align, finetune):
            seconds = _run_stage(stage, not args.no_progress)
            if seconds:
                timings[stage.out_dir] = seconds
                out.mkdir(parents=True, exist_ok=True)
                timings_path.write_text(json.dumps(timings, indent=1) + "\n")
            if stage is align and n == 0 and recipe.stage_one_only:
                name = f"{row['name']} (stage 1 only)"
                results[name] = _evaluate(recipe, Path(align.out_dir) / "model",
                                          Path(align.out_dir) / "eval")
                minutes = timings.get(align.out_dir)
                lines.append(_table_row(name, results[name],
                                        None if minutes is None else minutes / 60))
        results[row["name"]] = _evaluate(recipe, Path(finetune.out_dir) / "model",
                                         Path(finetune.out_dir) / "eval")
        spent = [timings.get(s.out_dir) for s in (align, finetune)]
        minutes = None if None in spent else sum(s for s in spent if s) / 60
        lines.append(_table_row(row["name"], results[row["name"]], minutes))
        (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
        (out / "results.md").write_text("\n".join(lines) + "\n")
        log.info("ablation row done", row=row["name"])
    print("\n".join(lines))  # noqa: T201 - the table is the command's result
    return 0

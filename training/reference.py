"""`mochat train reference`: the shipped model from nothing, in one resumable command.

Stages, in order, each under OUT_DIR (the recipe's `out_dir`):

    corpus     data/synth/         `mochat synth` with the recipe's `corpus:` settings
    dialogues  data/dialogues/     `mochat dialogues` (+ the general-instruction set)
    encoder    encoder/            self-supervised pretraining (training/encoder.py)
    align      align/              stage 1: projector + head, LLM frozen
    finetune   finetune/           stage 2: the LLM (LoRA) + projector + head
    head       head/               optional: the regression head on the frozen states

Each stage's section of the recipe is that stage's own recipe (the keys of EncoderRecipe /
LMRecipe) less the paths, which the orchestrator fills in: every stage reads the one
before it. A finished stage leaves `<stage>.done.json` (seconds, the recipe it ran) and is
skipped on a rerun, unless the recipe has changed for it or a stage before it (a stage
is never reused under other settings: the command stops and says which sections differ);
an interrupted one continues from its last checkpoint (`--resume`), so
killing the command at any point and running it again finishes the same model. The last
stage's model is copied to `export_to` (the shipped checkpoint's folder) when given.
Threads are pinned (`threads`, default 2) for every stage.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import structlog
import yaml

from mochat.errors import ConfigError
from training.recipe import read_recipe

log = structlog.get_logger(__name__)
STAGES = ("corpus", "dialogues", "encoder", "align", "finetune", "head")


@dataclass(frozen=True)
class ReferenceRecipe:
    out_dir: str
    corpus: dict[str, Any] = field(default_factory=dict)  # SynthConfig fields
    dialogues: dict[str, Any] = field(default_factory=dict)  # build_dialogues: seed, general
    encoder: dict[str, Any] = field(default_factory=dict)  # EncoderRecipe less paths
    align: dict[str, Any] = field(default_factory=dict)  # LMRecipe less paths
    finetune: dict[str, Any] = field(default_factory=dict)
    head: dict[str, Any] | None = None  # None: no head refit
    export_to: str | None = None
    threads: int = 2

    @classmethod
    def from_yaml(cls, path: str | Path) -> ReferenceRecipe:
        recipe = read_recipe(cls, path)
        for stage in ("encoder", "align", "finetune"):
            if not getattr(recipe, stage):
                raise ConfigError(f"{path}: stage {stage!r} has no settings")
        return recipe

    def stages(self) -> tuple[str, ...]:
        return STAGES if self.head is not None else STAGES[:-1]


def _paths(out: Path) -> dict[str, Path]:
    return {"corpus": out / "data" / "synth", "dialogues": out / "data" / "dialogues",
            "encoder": out / "encoder", "align": out / "align", "finetune": out / "finetune",
            "head": out / "head"}


def stage_recipe(recipe: ReferenceRecipe, stage: str) -> dict[str, Any]:
    """A training stage's own recipe: its section plus the paths it reads and writes."""
    paths = _paths(Path(recipe.out_dir))
    common = {"corpus": str(paths["corpus"]), "out_dir": str(paths[stage]),
              "threads": recipe.threads}
    if stage == "encoder":
        return {**recipe.encoder, **common}
    section = {"align": recipe.align, "finetune": recipe.finetune,
               "head": recipe.head or {}}[stage]
    lm = {**section, **common, "stage": stage, "dialogues": str(paths["dialogues"])}
    if stage == "align":
        lm["encoder"] = str(paths["encoder"] / "encoder")
    else:
        lm["init"] = str(paths["align" if stage == "finetune" else "finetune"] / "model")
    return lm


def _run_stage(recipe: ReferenceRecipe, stage: str, progress: bool) -> None:
    paths = _paths(Path(recipe.out_dir))
    if stage == "corpus":
        from mochat.synth import SynthConfig, write_corpus

        tmp = paths["corpus"].with_name("synth.partial")  # a kill leaves no half corpus
        shutil.rmtree(tmp, ignore_errors=True)
        write_corpus(tmp, SynthConfig(**recipe.corpus))
        shutil.rmtree(paths["corpus"], ignore_errors=True)
        tmp.rename(paths["corpus"])
        return
    if stage == "dialogues":
        from mochat.dialogue.build import build_dialogues

        tmp = paths["dialogues"].with_name("dialogues.partial")
        shutil.rmtree(tmp, ignore_errors=True)
        build_dialogues(paths["corpus"], tmp, **recipe.dialogues)
        shutil.rmtree(paths["dialogues"], ignore_errors=True)
        tmp.rename(paths["dialogues"])
        return
    from mochat.cli import main

    config = Path(recipe.out_dir) / "recipes" / f"{stage}.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    own = stage_recipe(recipe, stage)
    resume = (paths[stage] / "checkpoint" / "trainer_state.json").is_file()
    ran = yaml.safe_load(config.read_text()) if config.is_file() else None
    if resume and ran is not None and {**ran, "threads": own["threads"]} != own:
        raise ConfigError(f"{paths[stage]}: an interrupted {stage!r} stage ran under other "
                          f"settings ({config}); give the recipe a new out_dir, or delete "
                          f"{paths[stage]} to start that stage again")
    config.write_text(f"# written by mochat train reference from {recipe.out_dir}\n"
                      + yaml.safe_dump(own, sort_keys=False))
    argv = ["train", stage, "--config", str(config)] + (["--resume"] if resume else []) + \
        ([] if progress else ["--no-progress"])
    if main(argv) != 0:
        raise ConfigError(f"stage {stage!r} failed; its log is in {paths[stage]}")


def changed_sections(recipe: ReferenceRecipe, stage: str, marker: Path) -> list[str]:
    """The recipe sections that `stage` and the stages before it ran under, as its done
    marker records them, and that differ now (`threads` and `export_to` change no result)."""
    ran = json.loads(marker.read_text()).get("recipe", {})
    now = asdict(recipe)
    upto = STAGES[:STAGES.index(stage) + 1]
    return [name for name in upto if ran.get(name) != now.get(name)]


def run_reference(recipe: ReferenceRecipe, *, progress: bool = True,
                  stop_after: str | None = None) -> Path:
    """Run (or finish) every stage; returns the final model's folder."""
    os.environ.setdefault("OMP_NUM_THREADS", str(recipe.threads))
    import torch

    torch.set_num_threads(recipe.threads)
    out = Path(recipe.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stages = recipe.stages()
    for k, stage in enumerate(stages, start=1):
        marker = out / f"{stage}.done.json"
        if marker.is_file() and (changed := changed_sections(recipe, stage, marker)):
            raise ConfigError(
                f"{out}: stage {stage!r} finished under other settings of {changed} than "
                f"this recipe's; give the recipe a new out_dir, or delete {marker} and the "
                "later stages' markers to rerun from there")
        if marker.is_file():
            log.info("stage already done", stage=stage, step=f"{k}/{len(stages)}")
        else:
            log.info("stage start", stage=stage, step=f"{k}/{len(stages)}")
            start = time.monotonic()
            _run_stage(recipe, stage, progress)
            seconds = round(time.monotonic() - start, 1)
            marker.write_text(json.dumps({"stage": stage, "seconds": seconds,
                                          "recipe": asdict(recipe)}, indent=1) + "\n")
            log.info("stage done", stage=stage, seconds=seconds)
        if stage == stop_after:
            break
    final = _paths(out)[stages[-1]] / "model"
    if recipe.export_to and stop_after in (None, stages[-1]):
        target = Path(recipe.export_to)
        tmp = target.with_name(target.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(final, tmp)
        card = target / "README.md"  # the model card is written by hand, not trained
        if card.is_file():
            shutil.copy2(card, tmp / "README.md")
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
        log.info("exported", model=str(target))
    return final


def run(args: argparse.Namespace) -> int:
    recipe = ReferenceRecipe.from_yaml(args.config)
    run_reference(recipe, progress=not args.no_progress, stop_after=args.stop_after)
    return 0

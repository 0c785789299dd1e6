"""`mochat train <stage>`: one dispatch table for every training stage.

A stage is a module with `run(args) -> int` plus an argument adder defined here, so
building the parser imports no torch (every `mochat` call builds it). Later stages
(align, finetune) add one `Stage` line to STAGES.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


def _recipe_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, type=Path, help="YAML recipe")
    parser.add_argument("--resume", action="store_true",
                        help="continue from OUT_DIR/checkpoint of the same recipe")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _reference_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, type=Path, help="YAML reference recipe")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.add_argument("--stop-after", default=None,
                        choices=("corpus", "dialogues", "encoder", "align", "finetune", "head"),
                        help="stop after this stage (a later run continues from there)")


def _ablation_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, type=Path, help="YAML ablation recipe")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")


def _probe_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--corpus", required=True, type=Path,
                        help="corpus with spans/ (the synthetic corpus)")
    parser.add_argument("--encoder", action="append", required=True, metavar="NAME=SOURCE",
                        help="features to probe, repeatable. SOURCE: an encoder checkpoint "
                             "dir, 'random:KIND[:SIZE]' (untrained), or 'raw' (pooled joints)")
    parser.add_argument("--train-split", default="train", help="split the probe is fitted on")
    parser.add_argument("--test-split", default="test", help="split the probe is scored on")
    parser.add_argument("--max-motions", type=int, default=None,
                        help="use at most this many motions per split")
    parser.add_argument("--label", action="append", choices=("action", "action_side", "side"),
                        help="class per span: the action, action and side, or the side alone "
                             "on spans with one (repeatable; default: action)")
    parser.add_argument("--train-fraction", action="append", type=float,
                        help="share of training spans the probe sees (repeatable; default 1)")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--out", type=Path, default=None, help="write results as JSON here")


@dataclass(frozen=True)
class Stage:
    module: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]


STAGES: dict[str, Stage] = {
    "encoder": Stage("training.encoder", "self-supervised pretraining of the skeleton encoder",
                     _recipe_arguments),
    "align": Stage("training.lm", "stage 1: projector + regression head, LLM frozen",
                   _recipe_arguments),
    "finetune": Stage("training.lm", "stage 2: LLM (full or LoRA) + projector + head",
                      _recipe_arguments),
    "head": Stage("training.lm_head", "the regression head alone, on a trained model's "
                  "frozen states", _recipe_arguments),
    "ablation": Stage("training.ablation", "the paper's ablation rows on one shared schedule",
                      _ablation_arguments),
    "reference": Stage("training.reference", "the shipped model from nothing: corpus, "
                       "dialogues, encoder, align, finetune (and head), resumable",
                       _reference_arguments),
    "probe": Stage("training.probe", "linear probe: frozen encoder features -> atomic action",
                   _probe_arguments),
}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Entry point `mochat.commands:train`: adds `mochat train <stage>`."""
    parser = subparsers.add_parser("train", help="training stages (encoder, probe, ...)")
    stages = parser.add_subparsers(dest="stage", required=True, metavar="STAGE")
    for name, stage in STAGES.items():
        sub = stages.add_parser(name, help=stage.help)
        stage.add_arguments(sub)
        sub.set_defaults(func=_runner(stage.module))


def _runner(module: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        return int(importlib.import_module(module).run(args))
    return run

"""Recipes open with the command that launches them, and the smoke recipes chain: the
encoder smoke run's encoder feeds the LM align smoke run, whose model the finetune one
continues; the LM pair runs as written on the tiny test Llama."""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict
from pathlib import Path

import pytest
import yaml

from mochat.cli import build_parser, main
from training.encoder import EncoderRecipe
from training.lm import LMRecipe

RECIPES = Path(__file__).resolve().parents[2] / "training" / "recipes"


def _comment_commands(path: Path) -> list[list[str]]:
    """The `mochat ...` commands in a recipe's opening comment."""
    commands = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        text = line.lstrip("# ")
        if text.startswith("mochat "):
            commands.append(shlex.split(text)[1:])
    return commands


@pytest.mark.parametrize("path", sorted(RECIPES.glob("*.yaml")), ids=lambda p: p.name)
def test_recipe_opens_with_its_launch_command(path: Path):
    first = path.read_text().splitlines()[0]
    words = shlex.split(first.lstrip("# "))
    assert words[:2] == ["mochat", "train"] and words[3:] == [
        "--config", f"training/recipes/{path.name}"], first
    args = build_parser().parse_args(words[1:])  # the stage exists and takes --config
    stage = yaml.safe_load(path.read_text()).get("stage")
    assert stage in (None, args.stage)  # an LM recipe is launched as its own stage


def test_encoder_smoke_recipe_says_what_it_runs():
    path = RECIPES / "encoder_jgse_smoke.yaml"
    comment = " ".join(line for line in path.read_text().splitlines() if line.startswith("#"))
    assert "whole pipeline" not in comment and "encoder pretraining alone" in comment
    assert EncoderRecipe.from_yaml(path).size == "tiny"


def test_lm_smoke_recipes_chain_from_the_encoder_smoke_run():
    encoder = EncoderRecipe.from_yaml(RECIPES / "encoder_jgse_smoke.yaml")
    align = LMRecipe.from_yaml(RECIPES / "lm_align_smoke.yaml")
    finetune = LMRecipe.from_yaml(RECIPES / "lm_finetune_smoke.yaml")
    assert (align.stage, finetune.stage) == ("align", "finetune")
    assert align.encoder == f"{encoder.out_dir}/encoder"  # where pretraining saves it
    assert finetune.init == f"{align.out_dir}/model"
    assert encoder.corpus == align.corpus == finetune.corpus
    assert align.dialogues == finetune.dialogues
    assert align.model["llm"] == "smollm2"  # the packaged LLM: nothing to download
    assert max(align.steps, finetune.steps) <= 10 and finetune.lora is not None
    # the inputs the align recipe's comment makes are the paths the recipes read
    made = {}
    for words in _comment_commands(RECIPES / "lm_align_smoke.yaml")[1:]:
        args = build_parser().parse_args(words)
        made[args.command] = args
    assert set(made) == {"synth", "train", "dialogues"}
    assert made["synth"].out == align.corpus == made["dialogues"].data
    assert made["dialogues"].out == align.dialogues
    assert made["train"].config == Path("training/recipes/encoder_jgse_smoke.yaml")


def test_lm_smoke_recipes_run_on_the_tiny_llm(tmp_path: Path, tiny_llm_dir: Path):
    """Both recipes as written, but on the tiny random Llama and in tmp_path."""
    from mochat.models import build_encoder, encoder_tiny, save_encoder
    from mochat.skeleton import SMPL22
    from mochat.synth import SynthConfig, write_corpus

    write_corpus(tmp_path / "corpus", SynthConfig(motions=12, seed=3))
    assert main(["dialogues", "--data", str(tmp_path / "corpus"), "--out",
                 str(tmp_path / "dlg"), "--no-general"]) == 0
    save_encoder(build_encoder("jgse", encoder_tiny(), SMPL22), tmp_path / "encoder")
    paths = {"corpus": str(tmp_path / "corpus"), "dialogues": str(tmp_path / "dlg")}
    align = asdict(LMRecipe.from_yaml(RECIPES / "lm_align_smoke.yaml")) | paths | {
        "out_dir": str(tmp_path / "align"), "encoder": str(tmp_path / "encoder")}
    align["model"] = align["model"] | {"llm": str(tiny_llm_dir)}
    finetune = asdict(LMRecipe.from_yaml(RECIPES / "lm_finetune_smoke.yaml")) | paths | {
        "out_dir": str(tmp_path / "ft"), "init": str(tmp_path / "align" / "model")}
    for stage, recipe in (("align", align), ("finetune", finetune)):
        path = tmp_path / f"{stage}.yaml"
        path.write_text(yaml.safe_dump(recipe))
        assert main(["train", stage, "--config", str(path), "--no-progress"]) == 0
        log = (Path(recipe["out_dir"]) / "log.jsonl").read_text().splitlines()
        assert json.loads(log[-1])["step"] == recipe["steps"]
        assert (Path(recipe["out_dir"]) / "metrics.json").is_file()  # the eval ran too
    assert (tmp_path / "ft" / "model" / "adapter").is_dir()

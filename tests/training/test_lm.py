"""The two LM stages end to end on a tiny corpus and a tiny random Llama: recipes, logs,
checkpoints, exact resume, LoRA, continuing an adapter, and the final evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from mochat.cli import main
from mochat.errors import ConfigError
from mochat.models import build_encoder, encoder_tiny, save_encoder
from mochat.models.mochat import MoChat
from mochat.skeleton import SMPL22
from mochat.synth import SynthConfig, write_corpus
from training.lm import LMRecipe, build_model
from training.lm_data import GAP_KINDS
from training.lm_eval import evaluate_model


@pytest.fixture(scope="module")
def setup(tmp_path_factory, tiny_llm_dir) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("lm")
    write_corpus(root / "corpus", SynthConfig(motions=12, seed=3))
    assert main(["dialogues", "--data", str(root / "corpus"), "--out", str(root / "dlg"),
                 "--no-general"]) == 0
    save_encoder(build_encoder("jgse", encoder_tiny(), SMPL22), root / "encoder")
    return {"root": root, "llm": tiny_llm_dir}


def _recipe(setup, name: str, **fields) -> Path:
    base = {"corpus": str(setup["root"] / "corpus"), "dialogues": str(setup["root"] / "dlg"),
            "out_dir": str(setup["root"] / name), "batch_size": 2, "log_every": 1,
            "save_every": 2, "eval_per_task": 2, "eval_max_new_tokens": 3}
    path = setup["root"] / f"{name}.yaml"
    path.write_text(yaml.safe_dump({**base, **fields}))
    return path


def _train(stage: str, recipe: Path, *extra: str) -> None:
    assert main(["train", stage, "--config", str(recipe), "--no-progress", *extra]) == 0


def _steps(out: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()]


def test_align_then_resume_then_lora_then_continue(setup, capsys):
    root = setup["root"]
    align = dict(stage="align", encoder=str(root / "encoder"), steps=3,
                 model={"llm": str(setup["llm"]), "pool_frames": 2})
    _train("align", _recipe(setup, "align", **align))
    assert _steps(root / "align") == [1, 2, 3]
    metrics = json.loads((root / "align" / "metrics.json").read_text())
    assert {"captions", "spatial", "temporal", "who_are_you"} <= set(metrics)
    assert set(metrics["captions"]) >= {"bleu_4", "cider", "bertscore_minilm"}
    by_kind = metrics["spatial"]["by_kind"]  # what each gap question blanks, scored apart
    assert by_kind and set(by_kind) <= {*GAP_KINDS, "unknown"}
    assert all(0 <= k["accuracy"] <= 100 and k["questions"] > 0 for k in by_kind.values())
    # resume from the step-2 checkpoint... the checkpoint is at step 3 (the last step), so a
    # recipe with 4 steps continues with exactly one more
    _train("align", _recipe(setup, "align", **{**align, "steps": 4}), "--resume")
    assert _steps(root / "align") == [1, 2, 3, 4]
    lora = {"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]}
    _train("finetune", _recipe(setup, "ft", stage="finetune", init=str(root / "align/model"),
                               steps=2, lr=1e-3, lora=lora, eval_per_task=0))
    first = load_file(str(root / "ft/model/adapter/adapter_model.safetensors"))
    _train("finetune", _recipe(setup, "ft2", stage="finetune", init=str(root / "ft/model"),
                               steps=1, lr=1e-4, lora={}, eval_per_task=0))
    second = load_file(str(root / "ft2/model/adapter/adapter_model.safetensors"))
    assert first.keys() == second.keys()
    b_keys = [k for k in first if "lora_B" in k]
    before = torch.cat([first[k].flatten() for k in b_keys])
    after = torch.cat([second[k].flatten() for k in b_keys])
    # a fresh adapter would start from B = 0; the continued one starts from the first
    assert before.norm() > 0 and (after - before).norm() < 0.5 * before.norm()
    # a continued adapter keeps its own modules (and r, alpha): other targets are refused
    more = dict(stage="finetune", corpus="", dialogues="", out_dir="", init=str(root / "ft/model"))
    with pytest.raises(ConfigError, match=r"its adapter targets \['q_proj', 'v_proj'\]"):
        build_model(LMRecipe(**more, lora={"target_modules": ["q_proj", "o_proj"]}))
    with pytest.raises(ConfigError, match="its adapter has r 4; a continued adapter keeps it"):
        build_model(LMRecipe(**more, lora={"r": 8}))
    capsys.readouterr()


def test_recipe_errors_name_the_problem(setup):
    with pytest.raises(ConfigError, match="unknown recipe keys"):
        LMRecipe.from_yaml(_recipe(setup, "bad", stage="align", encoder="x", colour="red"))
    with pytest.raises(ConfigError, match="unknown stage"):
        LMRecipe.from_yaml(_recipe(setup, "bad", stage="pretrain"))
    with pytest.raises(ConfigError, match="needs `init`"):
        LMRecipe.from_yaml(_recipe(setup, "bad", stage="finetune"))
    with pytest.raises(ConfigError, match=r"cannot mirror \['general'\]"):
        LMRecipe.from_yaml(_recipe(setup, "bad", stage="finetune", init="x",
                                   mirror=["general", "temporal"]))
    with pytest.raises(ConfigError, match=r"unknown gap kinds \['sidestep'\]"):
        LMRecipe.from_yaml(_recipe(setup, "bad", stage="finetune", init="x",
                                   gap_oversample={"sidestep": 2, "turn": 2}))


def test_fresh_head_starts_the_head_anew_on_a_trained_model(setup):
    root = setup["root"]
    _train("align", _recipe(setup, "align_fh", stage="align", encoder=str(root / "encoder"),
                            steps=1, eval_per_task=0,
                            model={"llm": str(setup["llm"]), "pool_frames": 2}))
    _train("finetune", _recipe(setup, "fh", stage="finetune", init=str(root / "align_fh/model"),
                               steps=1, lr=1e-12, head_lr=1e-12, fresh_head=True, seed=1,
                               lora={"r": 2, "alpha": 4}, eval_per_task=0,
                               mirror=["spatial_gap", "temporal"], model={"pool_frames": 1}))
    # `model:` overrides the init's saved config (here: pooling 2 -> 1)
    assert json.loads((root / "fh/model/mochat_config.json").read_text())["pool_frames"] == 1
    # the evaluation on mirror images runs every task (captions scored on swapped refs)
    metrics = evaluate_model(MoChat.from_pretrained(root / "align_fh/model"), root / "corpus",
                             root / "dlg", per_task=2, max_new_tokens=3, bertscore=False,
                             mirror=True)
    assert {"captions", "spatial", "temporal"} <= set(metrics)
    init = load_file(str(root / "align_fh/model/mochat.safetensors"))
    out = load_file(str(root / "fh/model/mochat.safetensors"))
    head = [k for k in init if k.startswith("head.") and k.endswith("weight")]
    assert head and all(not torch.allclose(init[k], out[k]) for k in head if "norm" not in k)
    torch.testing.assert_close(out["projector.weight"], init["projector.weight"])


def test_head_stage_fits_a_new_head_and_leaves_the_rest_untouched(setup, capsys):
    root = setup["root"]
    _train("align", _recipe(setup, "align_hs", stage="align", encoder=str(root / "encoder"),
                            steps=1, eval_per_task=0,
                            model={"llm": str(setup["llm"]), "pool_frames": 2}))
    _train("finetune", _recipe(setup, "ft_hs", stage="finetune", init=str(root / "align_hs/model"),
                               steps=1, lr=1e-3, lora={"r": 2, "alpha": 4}, eval_per_task=0))
    head = dict(stage="head", init=str(root / "ft_hs/model"), model={"head": "frames"},
                steps=40, batch_size=8, lr=3e-3, log_every=5, eval_per_task=2)
    assert main(["train", "head", "--config", str(_recipe(setup, "hs", **head))]) != 0
    assert "needs `fresh_head: true`" in capsys.readouterr().err
    _train("head", _recipe(setup, "hs", **head, fresh_head=True, mirror=["temporal"]))
    log = [json.loads(line) for line in (root / "hs/log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log] == list(range(5, 41, 5))
    assert {"diou", "boundary"} <= set(log[0]) and "r1_iou_0.5" in log[-1]["val"]
    assert log[-1]["loss"] < log[0]["loss"]  # same batches' worth of data, fitted
    config = json.loads((root / "hs/model/mochat_config.json").read_text())
    assert config["head"] == "frames"
    init = load_file(str(root / "ft_hs/model/mochat.safetensors"))
    out = load_file(str(root / "hs/model/mochat.safetensors"))
    torch.testing.assert_close(out["projector.weight"], init["projector.weight"])
    assert any(k.startswith("head.convs") for k in out)  # the frames head's layout
    adapter = "adapter/adapter_model.safetensors"
    before, after = load_file(str(root / "ft_hs/model" / adapter)), load_file(
        str(root / "hs/model" / adapter))
    assert before.keys() == after.keys()
    for key in before:
        torch.testing.assert_close(after[key], before[key])
    metrics = json.loads((root / "hs/metrics.json").read_text())
    assert metrics["temporal"]["unanswered"] == 0
    capsys.readouterr()


def test_ablation_rows_share_one_schedule_and_rerun_skips_finished_work(setup, capsys):
    root = setup["root"]
    recipe = root / "ablation.yaml"
    recipe.write_text(yaml.safe_dump({
        "corpus": str(root / "corpus"), "dialogues": str(root / "dlg"),
        "out_dir": str(root / "ablation"), "encoder": str(root / "encoder"),
        "model": {"llm": str(setup["llm"]), "pool_frames": 2}, "batch_size": 2,
        "align_steps": 1, "finetune_steps": 1, "lora": {"r": 2, "alpha": 4},
        "eval_per_task": 1, "eval_max_new_tokens": 3,
        "rows": [{"name": "rh"}, {"name": "cft",
                                  "model": {"regression_head": False, "frame_tokens": True}}]}))
    assert main(["train", "ablation", "--config", str(recipe), "--no-progress"]) == 0
    table = (root / "ablation" / "results.md").read_text().splitlines()
    assert [line.split(" | ")[0] for line in table[2:]] == \
        ["| rh (stage 1 only)", "| rh", "| cft"]
    results = json.loads((root / "ablation" / "results.json").read_text())
    assert all("temporal" in m for m in results.values())
    cft = json.loads((root / "ablation/cft/align/recipe.json").read_text())
    rh = json.loads((root / "ablation/rh/align/recipe.json").read_text())
    assert {k for k in rh if rh[k] != cft[k]} == {"model", "out_dir"}
    stamp = (root / "ablation/cft/finetune/model/mochat.safetensors").stat().st_mtime_ns
    assert main(["train", "ablation", "--config", str(recipe), "--no-progress"]) == 0
    assert (root / "ablation/cft/finetune/model/mochat.safetensors").stat().st_mtime_ns == stamp
    capsys.readouterr()


def test_bf16_autocast_trains_close_to_fp32(setup):
    """`bf16: true` runs the forward passes in bfloat16 and keeps the weights fp32: the same
    seeded step gives nearly the same losses, and the saved weights are fp32."""
    root = setup["root"]
    losses = {}
    for bf16 in (False, True):
        name = f"align_bf16_{bf16}"
        _train("align", _recipe(setup, name, stage="align", encoder=str(root / "encoder"),
                                steps=2, eval_per_task=0, bf16=bf16,
                                model={"llm": str(setup["llm"]), "pool_frames": 2}))
        losses[bf16] = [json.loads(line)["loss"]
                        for line in (root / name / "log.jsonl").read_text().splitlines()]
        saved = load_file(str(root / name / "model" / "mochat.safetensors"))
        assert {t.dtype for t in saved.values()} == {torch.float32}
    assert losses[True] != losses[False]  # autocast did change the arithmetic
    assert losses[True] == pytest.approx(losses[False], rel=0.05)


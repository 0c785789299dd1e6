"""`mochat train reference`: every stage in order from one recipe (the smoke recipe on a
tiny random Llama), finished stages skipped on a rerun, a killed run finished by rerunning
the same command, and `base:` recipes merged key by key."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import yaml

from mochat.errors import ConfigError
from training.recipe import load_yaml
from training.reference import ReferenceRecipe, changed_sections, run_reference, stage_recipe

SMOKE = Path(__file__).resolve().parents[2] / "training" / "recipes" / "reference_smoke.yaml"


def _recipe(tmp_path: Path, llm: Path, **overrides) -> Path:
    body = {"base": str(SMOKE), "out_dir": str(tmp_path / "run"),
            "corpus": {"motions": 24, "seed": 3},
            "dialogues": {"seed": 0, "general": False},
            "align": {"model": {"llm": str(llm)}, **overrides.pop("align", {})},
            **overrides}
    path = tmp_path / "reference.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


def test_base_recipes_merge_mappings_and_replace_the_rest(tmp_path):
    (tmp_path / "a.yaml").write_text("x: 1\nnested: {p: 1, q: 2}\nlist: [1, 2]\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\nnested: {q: 3}\nlist: [9]\n")
    assert load_yaml(tmp_path / "b.yaml") == {"x": 1, "nested": {"p": 1, "q": 3}, "list": [9]}
    (tmp_path / "loop.yaml").write_text("base: loop.yaml\n")
    with pytest.raises(ConfigError, match="loops back"):
        load_yaml(tmp_path / "loop.yaml")


def test_each_stage_reads_the_one_before(tmp_path):
    recipe = ReferenceRecipe.from_yaml(SMOKE)
    assert stage_recipe(recipe, "align")["encoder"].endswith("encoder/encoder")
    assert stage_recipe(recipe, "finetune")["init"].endswith("align/model")
    assert stage_recipe(recipe, "head")["init"].endswith("finetune/model")
    assert stage_recipe(recipe, "finetune")["lora"] == {}  # from reference.yaml, via base:


def _done(run: Path) -> dict[str, float]:
    return {p.name: p.stat().st_mtime for p in run.glob("*.done.json")}


@pytest.mark.slow
def test_stages_run_once_and_a_kill_is_finished_by_rerunning(tmp_path, tiny_llm_dir):
    path = _recipe(tmp_path, tiny_llm_dir, align={"steps": 30, "save_every": 2})
    run = tmp_path / "run"
    run_reference(ReferenceRecipe.from_yaml(path), progress=False, stop_after="encoder")
    first = _done(run)
    assert sorted(first) == ["corpus.done.json", "dialogues.done.json", "encoder.done.json"]
    # kill the command once the align stage has checkpointed, then run it again
    proc = subprocess.Popen([sys.executable, "-m", "mochat", "train", "reference", "--config",
                             str(path), "--no-progress"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    state = run / "align" / "checkpoint" / "trainer_state.json"
    deadline = time.monotonic() + 240
    while not state.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert state.exists() and not (run / "align.done.json").exists()
    final = run_reference(ReferenceRecipe.from_yaml(path), progress=False)
    assert (final / "mochat_config.json").is_file()
    done = _done(run)
    assert {k: done[k] for k in first} == first  # finished stages were not run again
    steps = [json.loads(line)["step"] for line in
             (run / "align" / "log.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == 30  # resumed, no step twice


def test_a_stage_finished_under_other_settings_is_not_reused(tmp_path, tiny_llm_dir):
    recipe = ReferenceRecipe.from_yaml(_recipe(tmp_path, tiny_llm_dir))
    run = tmp_path / "run"
    run.mkdir()
    ran = asdict(recipe)
    for stage in ("corpus", "dialogues", "encoder"):
        (run / f"{stage}.done.json").write_text(json.dumps({"stage": stage, "recipe": ran}))
    assert changed_sections(recipe, "encoder", run / "encoder.done.json") == []
    assert changed_sections(replace(recipe, threads=1, export_to="elsewhere"), "encoder",
                            run / "encoder.done.json") == []
    longer = replace(recipe, encoder={**recipe.encoder, "steps": recipe.encoder["steps"] + 1})
    assert changed_sections(longer, "dialogues", run / "dialogues.done.json") == []
    assert changed_sections(longer, "encoder", run / "encoder.done.json") == ["encoder"]
    with pytest.raises(ConfigError, match=r"stage 'encoder' finished under other settings of "
                                          r"\['encoder'\]"):
        run_reference(longer, progress=False)


def test_an_interrupted_stage_is_not_resumed_under_other_settings(tmp_path, tiny_llm_dir):
    recipe = ReferenceRecipe.from_yaml(_recipe(tmp_path, tiny_llm_dir))
    run = tmp_path / "run"
    (run / "align" / "checkpoint").mkdir(parents=True)
    (run / "align" / "checkpoint" / "trainer_state.json").write_text("{}")
    for stage in ("corpus", "dialogues", "encoder"):
        (run / f"{stage}.done.json").write_text(json.dumps({"recipe": asdict(recipe)}))
    (run / "recipes").mkdir()
    ran = {**stage_recipe(recipe, "align"), "lr": 123.0}
    (run / "recipes" / "align.yaml").write_text(yaml.safe_dump(ran))
    with pytest.raises(ConfigError, match="interrupted 'align' stage ran under other settings"):
        run_reference(recipe, progress=False)


def test_the_next_reference_recipe_is_the_reference_with_its_side_fixes():
    from training.lm import LMRecipe

    now = ReferenceRecipe.from_yaml(SMOKE.with_name("reference.yaml"))
    nxt = ReferenceRecipe.from_yaml(SMOKE.with_name("reference_next.yaml"))
    assert nxt.export_to is None  # it never overwrites the shipped checkpoint
    assert (nxt.corpus, nxt.dialogues) == (now.corpus, now.dialogues)
    for stage in ("align", "finetune"):
        recipe = LMRecipe(**stage_recipe(nxt, stage))  # every key is a real setting
        assert recipe.swap_gap_sides and recipe.pair_variants and recipe.bf16
        assert "spatial_gap" in recipe.mirror

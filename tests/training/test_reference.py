"""`mochat train reference`: every stage in order from one recipe (the smoke recipe on a
tiny random Llama), finished stages skipped on a rerun, a killed run finished by rerunning
the same command, and `base:` recipes merged key by key."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from mochat.errors import ConfigError
from training.recipe import load_yaml
from training.reference import ReferenceRecipe, run_reference, stage_recipe

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

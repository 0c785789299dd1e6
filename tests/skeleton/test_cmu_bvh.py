"""The eleven real CMU trials in ../shared/data/cmu-bvh/ (three BVH conventions, 120 fps,
343 to 4,511 frames) load and get answers from `mochat chat`, spans in their own frames."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mochat.cli import main
from mochat.pipeline import DEFAULT_MODEL_DIR, MoChatPipeline
from mochat.skeleton import read_motion, to_model

CMU = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cmu-bvh"
TRIALS = sorted(CMU.glob("*.bvh")) if CMU.is_dir() else []
CONVENTION = {"01": "cmu_mb", "02": "cmu_mb", "05": "cmu_mb", "10": "cmu_daz", "11": "cmu_daz",
              "14": "cmu_daz", "131": "cmu_3dsmax"}  # from the folder's README
pytestmark = pytest.mark.skipif(len(TRIALS) != 11, reason=f"no CMU trials at {CMU}")


@pytest.mark.parametrize("path", TRIALS, ids=[p.stem for p in TRIALS])
def test_each_trial_is_found_in_its_convention_and_looks_human(path):
    source = read_motion(path)
    assert source.layout.name == CONVENTION[path.stem.split("_")[0]]
    assert source.fps == pytest.approx(120, rel=1e-4)
    moved = to_model(source.joints, source.layout, source.fps, source=str(path))
    assert moved.warnings == ()  # height, up axis and floor all plausible
    assert moved.joints.shape[0] == pytest.approx(source.joints.shape[0] / 6, abs=1)


@pytest.fixture(scope="module")
def shipped() -> MoChatPipeline:
    if not (DEFAULT_MODEL_DIR / "mochat_config.json").exists():
        pytest.skip("no shipped checkpoint")
    return MoChatPipeline.from_pretrained(DEFAULT_MODEL_DIR)


@pytest.mark.slow
def test_chat_answers_every_trial(shipped, monkeypatch, capsys):
    monkeypatch.setattr(MoChatPipeline, "from_pretrained", classmethod(lambda *a, **k: shipped))
    for path in TRIALS:
        frames = read_motion(path).joints.shape[0]
        for question in ("Describe the motion.", "When does the person walk?"):
            assert main(["chat", str(path), "--ask", question, "--json"]) == 0, path.name
            answer = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
            assert answer["text"].strip() and answer["num_frames"] == frames, path.name
        span = answer["span"]  # the "when" answer: in the trial's own 120 fps frames
        assert span is not None and 0 <= span["start"] <= span["end"] < frames, path.name

"""Encoder pretraining: targets by hand, loss falling, determinism, resume, CLI."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from mochat.cli import main
from mochat.errors import ConfigError
from mochat.models import load_encoder
from training.encoder import EncoderRecipe, build_pretrainer, train
from training.pretext import IGNORE, PretextSpec, direction_classes, displacements, targets


def _recipe(corpus: Path, out: Path, **overrides: object) -> EncoderRecipe:
    base = EncoderRecipe(corpus=str(corpus), out_dir=str(out), kind="jgse", size="tiny",
                         steps=8, batch_size=4, lr=2e-3, warmup_steps=2, log_every=2,
                         save_every=4, edge_samples=32, window_frames=32)
    return replace(base, **overrides)


def test_direction_classes_by_hand() -> None:
    spec = PretextSpec()
    disp = torch.tensor([[1.0, 0.0, 0.0],     # +x only: digits (2, 1, 1) -> 2*9+3+1 = 22
                         [0.0, -1.0, 0.0],    # -y only: (1, 0, 1) -> 9+0+1 = 10
                         [1.0, 1.0, -1.0],    # (2, 2, 0) -> 18+6+0 = 24
                         [1.0, 0.1, 0.0],     # y under the 30% dead zone: same as +x = 22
                         [0.0, 0.0, 0.0]])    # no motion: (1, 1, 1) -> 13
    assert direction_classes(disp, spec).tolist() == [22, 10, 24, 22, 13]


def test_targets_ignore_frames_without_a_future() -> None:
    spec = PretextSpec(intervals=(1, 5), num_magnitude_bins=2)
    joints = torch.arange(8.0).reshape(1, 8, 1, 1).expand(1, 8, 2, 3).clone()  # x = t
    mask = torch.ones(1, 8, dtype=torch.bool)
    mask[0, 6:] = False  # 6 real frames
    disp, valid = displacements(joints, mask, 5)
    assert valid[0].tolist() == [True] + [False] * 7  # only t=0 has a real t+5
    assert disp[0, 0, 0].tolist() == [5.0, 5.0, 5.0]
    edges = torch.tensor([[1.0], [1.0]])
    dirs, mags = targets(joints, mask, spec, edges)
    assert dirs.shape == (1, 8, 2, 2)  # (B, T, K, J)
    assert (dirs[0, :5, 0] == 26).all()  # interval 1, frames 0..4: all axes +
    assert (dirs[0, 5:, 0] == IGNORE).all()  # frame 5 is the last real one
    assert mags[0, 0, 0, 0] == 1  # |d| = sqrt(3) > edge 1.0: upper bin


def test_loss_falls_and_checkpoint_loads(corpus: Path, tmp_path: Path) -> None:
    recipe = _recipe(corpus, tmp_path / "run", steps=40, log_every=5, save_every=20)
    train(recipe, progress=False)
    rows = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    first, last = rows[0]["loss"], sum(r["loss"] for r in rows[-2:]) / 2
    # Chance level is ln 27 + ln 16 = 6.07 nats; 40 steps of a tiny model go well below.
    assert first > 5.5 and last < first - 0.4, (first, last)
    encoder = load_encoder(tmp_path / "run" / "encoder")
    assert encoder.kind == "jgse" and encoder.feature_dim == 32
    assert load_encoder(tmp_path / "run" / "checkpoint").kind == "jgse"


def test_same_seed_same_run_and_resume_is_exact(corpus: Path, tmp_path: Path) -> None:
    full = train(_recipe(corpus, tmp_path / "a"), progress=False)
    again = train(_recipe(corpus, tmp_path / "b"), progress=False)
    half = train(_recipe(corpus, tmp_path / "c", steps=4), progress=False)
    assert half.step == 4
    resumed = train(_recipe(corpus, tmp_path / "c"), resume_run=True, progress=False)
    assert resumed.step == 8
    for name, param in full.encoder.state_dict().items():
        torch.testing.assert_close(again.encoder.state_dict()[name], param, rtol=0, atol=0)
        torch.testing.assert_close(resumed.encoder.state_dict()[name], param, rtol=0, atol=0)


def test_bf16_autocast_keeps_fp32_weights_and_close_losses(corpus: Path, tmp_path: Path) -> None:
    losses = {}
    for bf16 in (False, True):
        torch.manual_seed(0)
        run = build_pretrainer(_recipe(corpus, tmp_path / f"bf16_{bf16}", bf16=bf16))
        losses[bf16] = [float(run.train_step().loss.detach()) for _ in range(3)]
        assert {p.dtype for p in run.encoder.parameters()} == {torch.float32}
    assert losses[True] != losses[False]  # autocast did change the arithmetic
    assert losses[True] == pytest.approx(losses[False], rel=0.02)


def test_cli_runs_a_recipe(corpus: Path, tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"# mochat train encoder --config {recipe}\n"
                      f"corpus: {corpus}\nout_dir: {tmp_path / 'out'}\nkind: glte\n"
                      "size: tiny\nsteps: 3\nbatch_size: 2\nedge_samples: 8\n")
    assert main(["train", "encoder", "--config", str(recipe), "--no-progress"]) == 0
    assert load_encoder(tmp_path / "out" / "encoder").kind == "glte"


def test_recipe_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("corpus: x\nout_dir: y\nlearning_rate: 1\n")
    with pytest.raises(ConfigError, match="unknown recipe keys \\['learning_rate'\\]"):
        EncoderRecipe.from_yaml(bad)
    with pytest.raises(ConfigError, match="no checkpoint"):
        train(_recipe(tmp_path, tmp_path / "none"), resume_run=True)


def test_shipped_recipes_parse() -> None:
    recipes = sorted((Path(__file__).parents[2] / "training" / "recipes").glob("encoder_*.yaml"))
    assert recipes
    for path in recipes:
        assert path.read_text().startswith("# mochat train encoder --config")
        EncoderRecipe.from_yaml(path).spec()


def test_long_crops_train_every_temporal_position(corpus: Path, tmp_path: Path) -> None:
    # The LM feeds windows up to the encoder's max_frames (256 for tiny); 32-frame crops
    # leave rows 32+ of the temporal position table at their init. Long crops (motions
    # joined end to end to the whole window) reach all of them. No weight decay, so a row
    # without a gradient stays exactly as initialised.
    def moved_rows(name: str, **overrides: object) -> torch.Tensor:
        recipe = _recipe(corpus, tmp_path / name, steps=4, weight_decay=0.0, **overrides)
        start = build_pretrainer(recipe).encoder.temporal_pos.detach().clone()
        end = train(recipe, progress=False).encoder.temporal_pos.detach()
        return (end != start).any(dim=1)  # (max_frames,)

    short = moved_rows("short")
    assert short[:16].all() and not short[32:].any(), short.nonzero().flatten().tolist()
    long = moved_rows("long", long_crop_share=0.5)
    assert long.all(), f"untrained positions: {(~long).nonzero().flatten().tolist()}"


def test_a_joined_motion_continues_where_the_last_one_ends() -> None:
    import numpy as np

    from mochat.skeleton import SMPL22
    from mochat.skeleton.normalize import facing_angle
    from mochat.synth.generate import synthesize_motion
    from training.encoder import continue_from

    a = synthesize_motion("a", np.random.default_rng(1)).joints
    b = synthesize_motion("b", np.random.default_rng(2)).joints
    moved = continue_from(a, b, SMPL22)
    assert np.allclose(moved[0, 0, [0, 2]], a[-1, 0, [0, 2]], atol=1e-5)  # same spot
    assert abs(np.sin(facing_angle(moved[:1], SMPL22) - facing_angle(a[-1:], SMPL22))) < 1e-4

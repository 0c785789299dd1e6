"""`mochat render`: the frame count it prints is the GIF's, spans and outputs are checked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mochat.cli import main
from mochat.render import check_span, gif_frames


@pytest.fixture
def motion_file(tmp_path: Path) -> Path:
    from mochat.synth import synthesize_motion

    path = tmp_path / "m.npy"
    np.save(path, synthesize_motion("m", np.random.default_rng(0)).joints[:9])  # 9 frames
    return path


def test_printed_frames_are_the_gifs(motion_file: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]):
    from PIL import Image

    out = tmp_path / "m.gif"
    assert main(["render", str(motion_file), "--out", str(out), "--stride", "2",
                 "--span", "2", "8"]) == 0
    with Image.open(out) as gif:
        n = gif.n_frames
    assert n == 5  # frames 0, 2, 4, 6, 8 of 9
    assert f"wrote {out} (5 frames of the motion's 9, every 2)" in capsys.readouterr().out


@pytest.mark.parametrize(("span", "why"), [
    (("6", "2"), "span 6-2"),  # start after end
    (("0", "9"), "span 0-9"),  # the last frame is 8
    (("-1", "3"), "span -1-3"),
])
def test_span_outside_the_motion_is_refused(motion_file: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str],
                                            span: tuple[str, str], why: str):
    out = tmp_path / "m.gif"
    assert main(["render", str(motion_file), "--out", str(out), "--span", *span]) == 2
    err = capsys.readouterr().err
    assert f"mochat render: error: {why}: expected 0 <= START <= END <= 8" in err
    assert not out.exists()


@pytest.mark.parametrize("name", ["m.png", "m", "m.mp4"])
def test_output_that_is_not_a_gif_is_refused(motion_file: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str], name: str):
    out = tmp_path / name
    assert main(["render", str(motion_file), "--out", str(out)]) == 2
    assert "expected a .gif file" in capsys.readouterr().err
    assert not out.exists()


def test_gif_frames_and_span_bounds():
    assert list(gif_frames(9, 2)) == [0, 2, 4, 6, 8]
    assert len(gif_frames(86, 2)) == 43  # the motion: 86 frames, 43 in the GIF
    check_span((0, 8), 9)  # the whole motion is fine
    with pytest.raises(ValueError, match="expected 1 or more"):
        gif_frames(9, 0)

"""Replay: resampling, stream set-up and the tick schedule (no broker)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ingest.codec import decode_frame
from ingest.replay import load_streams, replay, resample
from mochat.errors import DataFormatError


def test_resample_is_linear_in_time() -> None:
    joints = np.zeros((3, 1, 3), np.float32)
    joints[:, 0, 0] = [0.0, 1.0, 2.0]  # x = frame number at 20 fps
    out = resample(joints, 20.0, 60.0)
    # (3 - 1) * 60 / 20 + 1 = 7 frames, each a third of a source frame apart
    assert out[:, 0, 0] == pytest.approx([0, 1 / 3, 2 / 3, 1, 4 / 3, 5 / 3, 2])
    assert resample(joints, 20.0, 10.0)[:, 0, 0].tolist() == [0.0, 2.0]  # every 2nd frame


def test_load_streams_cycles_files_and_staggers(tmp_path: Path) -> None:
    for name, frames in (("a.npy", 4), ("b.npy", 6)):
        np.save(tmp_path / name, np.zeros((frames, 22, 3), np.float32))
    streams = load_streams([tmp_path / "a.npy", tmp_path / "b.npy"], streams=3, fps=20.0,
                           prefix="cam", stagger_frames=5)
    assert [(s.stream_id, s.num_frames, s.start_frame) for s in streams] == \
        [("cam-0", 4, 0), ("cam-1", 6, 5), ("cam-2", 4, 10)]
    corpus = tmp_path / "corpus" / "new_joints"
    corpus.mkdir(parents=True)
    np.save(corpus / "x.npy", np.zeros((2, 22, 3), np.float32))
    assert load_streams([tmp_path / "corpus"], streams=1, fps=20.0)[0].num_frames == 2
    with pytest.raises(DataFormatError):
        load_streams([tmp_path / "missing.npy"], streams=1, fps=20.0)


async def test_replay_sends_every_frame_tick_by_tick(tmp_path: Path) -> None:
    np.save(tmp_path / "m.npy", np.zeros((3, 22, 3), np.float32))
    streams = load_streams([tmp_path / "m.npy"], streams=2, fps=20.0)
    sent: list[tuple[str, int]] = []
    stats = await replay(streams, lambda s, i, payload: sent.append(
        (decode_frame(payload).stream_id, i)), fps=20.0, realtime=False, loops=2)
    # tick k sends frame k of every stream; 2 loops of 3 frames continue the numbering
    assert sent == [(f"replay-{s}", k) for k in range(6) for s in (0, 1)]
    assert stats.frames_sent == 12


async def test_realtime_replay_paces_at_fps(tmp_path: Path) -> None:
    np.save(tmp_path / "m.npy", np.zeros((11, 22, 3), np.float32))
    streams = load_streams([tmp_path / "m.npy"], streams=1, fps=100.0)  # 20 fps -> 100 fps
    stats = await replay(streams, lambda *_: None, fps=100.0)
    # (11 - 1) * 5 + 1 = 51 frames; the last is due 50 ticks = 0.5 s after the first
    assert stats.frames_sent == 51
    assert 0.45 <= stats.seconds < 1.5

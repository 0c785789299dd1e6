"""Replay: resampling, stream set-up and the tick schedule (no broker)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ingest.codec import decode_frame
from ingest.replay import into_layout_convention, load_streams, replay
from mochat.errors import DataFormatError
from mochat.skeleton import Convention, get_layout


def test_files_are_resampled_to_fps_linearly_in_time(tmp_path: Path) -> None:
    joints = np.zeros((3, 22, 3), np.float32)
    joints[:, 0, 0] = [0.0, 1.0, 2.0]  # x = frame number at 20 fps
    np.save(tmp_path / "m.npy", joints)
    (stream,) = load_streams([tmp_path / "m.npy"], streams=1, fps=60.0)
    # (3 - 1) * 60 / 20 + 1 = 7 frames, each a third of a source frame apart
    assert stream.joints[:, 0, 0] == pytest.approx([0, 1 / 3, 2 / 3, 1, 4 / 3, 5 / 3, 2])
    assert (stream.fps, stream.layout) == (60.0, "smpl22")


def test_each_file_plays_at_its_own_rate_by_default(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.zeros((4, 22, 3), np.float32))  # .npy: 20 fps
    np.savez(tmp_path / "b.npz", joints=np.zeros((9, 25, 3), np.float32), fps=120.0,
             layout="ntu25")
    a, b = load_streams([tmp_path / "a.npy", tmp_path / "b.npz"], streams=2)
    assert [(s.layout, s.fps, s.num_frames) for s in (a, b)] == \
        [("smpl22", 20.0, 4), ("ntu25", 120.0, 9)]
    (c,) = load_streams([tmp_path / "a.npy"], streams=1, file_fps=30.0)  # a 30 fps .npy
    assert (c.fps, c.num_frames) == (30.0, 4)


def test_files_in_another_convention_are_rewritten_into_the_layouts() -> None:
    # A Kinect recording saved as z-up centimetres; NTU-25's own convention is y-up metres:
    # (x, y, z) cm z-up -> (x, z, -y) / 100 m y-up
    ntu = get_layout("ntu25")
    joints = np.array([[[10.0, 20.0, 170.0]]], np.float32).repeat(25, axis=1)
    out = into_layout_convention(joints, Convention("z", "cm"), ntu)
    assert out[0, 0] == pytest.approx([0.1, 1.7, -0.2])
    # and into a y-down millimetre layout (Azure Kinect) it is y-down millimetres
    azure = get_layout("azure32")
    down = into_layout_convention(np.ones((1, 32, 3), np.float32), Convention("y", "m"), azure)
    assert down[0, 0] == pytest.approx([1000.0, -1000.0, -1000.0])
    assert azure.convention.to_model(down)[0, 0] == pytest.approx([1.0, 1.0, 1.0])


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
        (decode_frame(payload).stream_id, i)), realtime=False, loops=2)
    # tick k sends frame k of every stream; 2 loops of 3 frames continue the numbering
    assert sent == [(f"replay-{s}", k) for k in range(6) for s in (0, 1)]
    assert stats.frames_sent == 12


async def test_streams_at_different_rates_interleave_by_time(tmp_path: Path) -> None:
    np.save(tmp_path / "m.npy", np.zeros((3, 22, 3), np.float32))
    slow = load_streams([tmp_path / "m.npy"], streams=1, prefix="slow")[0]  # 20 fps
    fast = load_streams([tmp_path / "m.npy"], streams=1, fps=40.0, prefix="fast")[0]
    sent: list[tuple[str, int, int, float]] = []

    def record(_s, i: int, payload: bytes) -> None:  # noqa: ANN001
        frame = decode_frame(payload)
        sent.append((frame.stream_id, i, frame.capture_time_us, frame.fps))

    await replay([slow, fast], record, realtime=False)
    # fast has 5 frames 25 ms apart, slow 3 frames 50 ms apart: by due time (slow first on
    # ties) slow-0 fast-0 | fast-1 | slow-1 fast-2 | fast-3 | slow-2 fast-4
    assert [(name[0], i) for name, i, _, _ in sent] == [
        ("s", 0), ("f", 0), ("f", 1), ("s", 1), ("f", 2), ("f", 3), ("s", 2), ("f", 4)]
    t0 = sent[0][2]
    assert [(t - t0) // 1000 for _, _, t, _ in sent] == [0, 0, 25, 50, 50, 75, 100, 100]
    assert {name: fps for name, _, _, fps in sent} == {"slow-0": 20.0, "fast-0": 40.0}


async def test_realtime_replay_paces_at_fps(tmp_path: Path) -> None:
    np.save(tmp_path / "m.npy", np.zeros((11, 22, 3), np.float32))
    streams = load_streams([tmp_path / "m.npy"], streams=1, fps=100.0)  # 20 fps -> 100 fps
    stats = await replay(streams, lambda *_: None)
    # (11 - 1) * 5 + 1 = 51 frames; the last is due 50 ticks = 0.5 s after the first
    assert stats.frames_sent == 51
    assert 0.45 <= stats.seconds < 1.5


async def test_frames_per_record_sends_frame_batches_when_their_last_frame_is_due(
        tmp_path: Path) -> None:
    from ingest.codec import DecodedBatch, decode_frame_batch
    from mochat.errors import ConfigError

    joints = np.zeros((7, 22, 3), np.float32)
    joints[:, 0, 0] = np.arange(7)
    np.save(tmp_path / "m.npy", joints)
    (stream,) = load_streams([tmp_path / "m.npy"], streams=1, fps=20.0)
    sent: list[tuple[int, DecodedBatch]] = []

    def record(_s, i: int, payload: bytes) -> None:  # noqa: ANN001
        batch = decode_frame_batch(payload)
        assert isinstance(batch, DecodedBatch)
        sent.append((i, batch))

    stats = await replay([stream], record, realtime=False, frames_per_record=3)
    # 7 frames 3 at a time: 0..2, 3..5 and the rest, 6
    assert [(i, b.block.first_frame, b.block.num_frames) for i, b in sent] == \
        [(0, 0, 3), (3, 3, 3), (6, 6, 1)]
    assert (stats.frames_sent, stats.records_sent) == (7, 3)
    times = np.concatenate([b.block.capture_times_us for _, b in sent])
    assert ((times - times[0]) // 1000).tolist() == [0, 50, 100, 150, 200, 250, 300]
    joints_sent = np.concatenate([b.block.joints for _, b in sent])
    assert joints_sent[:, 0, 0].tolist() == list(range(7))
    with pytest.raises(ConfigError):
        await replay([stream], record, realtime=False, frames_per_record=0)

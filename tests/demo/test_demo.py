"""`mochat demo`: what it plays and asks, how it stops its processes, and a short run end
to end (broker, encoder, ingest and LLM services over TLS with tokens, two streams)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from demo.processes import Children, pid_alive
from demo.streams import demo_streams
from mochat.dialogue.builders import side_words

REPO = Path(__file__).resolve().parents[2]


def test_streams_come_in_their_own_layouts_and_rates(tmp_path: Path):
    streams = demo_streams(3, tmp_path, max_seconds=4.0)
    assert [(s.stream_id, s.replay.layout, round(s.replay.fps)) for s in streams] == [
        ("smpl22-20fps", "smpl22", 20), ("ntu25-30fps", "ntu25", 30),
        ("cmu-bvh-120fps", "cmu_mb", 120)]
    assert [s.start_delay_s for s in streams] == [0.0, 1.5, 3.0]
    for s in streams:
        assert s.seconds <= 4.0 and s.path.is_file()
        kinds = {q.kind: q for q in s.questions}
        assert set(kinds) == {"caption", "side", "when"}
        # the gap question blanks the caption's only side word; the answer is that word
        side = kinds["side"]
        assert "( )" in side.text and not side_words(side.text.split("Complete")[0])
        assert side.expected in ("left", "right")
        first, last = kinds["when"].expected_span
        assert 0 <= first < last <= s.frames[1]


def test_a_120_fps_stream_expects_six_times_the_20_fps_frames(tmp_path: Path):
    # the same motion picked for the same length: frames at 120 fps are 6x those at 20 fps
    from demo.streams import synthetic_motions, synthetic_stream
    from mochat.skeleton.formats import RENDITIONS

    renditions = {r.name: r for r in RENDITIONS}
    record, gap, target = next(synthetic_motions(80, 1))
    slow = synthetic_stream(record, gap, target, renditions["smpl22-20fps"], tmp_path)
    fast = synthetic_stream(record, gap, target, renditions["smpl22-120fps"], tmp_path)
    (a, b), (c, d) = (next(q.expected_span for q in s.questions if q.kind == "when")
                      for s in (slow, fast))
    assert (c, d) == (6 * a, 6 * b)
    assert fast.replay.num_frames == 6 * (slow.replay.num_frames - 1) + 1


def test_too_many_streams_or_too_few_seconds_are_refused(tmp_path: Path):
    from mochat.errors import ConfigError

    with pytest.raises(ConfigError, match="--streams must be 1.."):
        demo_streams(99, tmp_path)
    with pytest.raises(ConfigError, match="--seconds must be >= 2"):
        demo_streams(1, tmp_path, max_seconds=1.0)


@pytest.fixture
def children(tmp_path: Path) -> Iterator[Children]:
    """A Children whose processes are stopped even when the test fails half way."""
    children = Children(tmp_path / "pids.json")
    yield children
    children.stop_all(grace_s=0.5)


def test_children_are_stopped_by_pid_with_their_groups(children: Children, tmp_path: Path):
    # a shell that ignores SIGTERM, and a child of it in its group: SIGKILL after the grace
    stubborn = children.start("stubborn", ["sh", "-c", "trap '' TERM; sleep 60 & wait"],
                              log_path=tmp_path / "a.log")
    polite = children.start("polite", ["sleep", "60"], log_path=tmp_path / "b.log")
    assert json.loads((tmp_path / "pids.json").read_text()) == \
        {"stubborn": stubborn.pid, "polite": polite.pid}
    time.sleep(0.3)
    assert children.stop_all(grace_s=1.0) == ["stubborn"]
    assert not pid_alive(stubborn.pid) and not pid_alive(polite.pid)
    assert children.stop_all() == []  # idempotent


def _group_members(pgid: int) -> list[int]:
    """Live processes (not zombies) in process group `pgid`, from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # exited while we looked
        if fields[0] != "Z" and int(fields[2]) == pgid:  # state, ppid, pgrp
            members.append(int(stat.parent.name))
    return members


def test_a_grandchild_that_ignores_sigterm_is_not_left_behind(children: Children,
                                                              tmp_path: Path):
    # the shell exits on SIGTERM at once; its child ignores SIGTERM and would be an orphan
    parent = children.start("parent", ["sh", "-c", "(trap '' TERM; sleep 60) & wait"],
                            log_path=tmp_path / "a.log")
    time.sleep(0.3)
    assert len(_group_members(parent.pid)) == 2  # sh, and sleep (its subshell execs it)
    assert children.stop_all(grace_s=1.0) == []  # the shell went on SIGTERM
    deadline = time.monotonic() + 2.0
    while _group_members(parent.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _group_members(parent.pid) == []


def _demo(out: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mochat", "demo", "--out", str(out), "--streams", "2",
         "--seconds", "4", "--no-gif", *extra],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("MOCHAT_")})


def _assert_none_left(out: Path) -> dict[str, int]:
    pids = json.loads((out / "run" / "pids.json").read_text())
    deadline = time.monotonic() + 5.0
    while any(pid_alive(p) for p in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [n for n, p in pids.items() if pid_alive(p)] == []
    # nor anything they started: each child leads its own group
    assert {n: _group_members(p) for n, p in pids.items() if _group_members(p)} == {}
    return pids


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for the module's runs, so the second reuses the first's encoder export."""
    return tmp_path_factory.mktemp("demo")


@pytest.mark.kafka
@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_short_demo_answers_every_stream_and_leaves_no_process(demo_out: Path):
    proc = _demo(demo_out)
    output, _ = proc.communicate(timeout=220)
    assert proc.returncode == 0, output
    pids = _assert_none_left(demo_out)
    assert set(pids) == {"broker", "export", "llm", "encoder", "ingest"}
    answers = [json.loads(line) for line in (demo_out / "answers.jsonl").read_text().split("\n")
               if line]
    by = {(a["stream"], a["kind"]): a for a in answers}
    assert set(by) == {(s, k) for s in ("smpl22-20fps", "ntu25-30fps")
                       for k in ("caption", "side", "when")}
    assert all("answer" in a and a["answer"].strip() for a in answers), answers
    for stream in ("smpl22-20fps", "ntu25-30fps"):
        when = by[(stream, "when")]
        first, last = when["stream_frames"]
        (span,) = when["spans"]
        assert first <= span["first_frame"] <= span["last_frame"] <= last
        assert 0 < span["first_capture_time_us"] <= span["last_capture_time_us"]
        # the span is in the stream's own frames, not the model's 20 fps ones: the frames
        # were sent in real time, so its capture times lie (frames / stream fps) apart
        # (a 30 fps span left in model frames would be off by a factor 1.5)
        frames_s = (span["last_frame"] - span["first_frame"]) / when["fps"]
        captured_s = (span["last_capture_time_us"] - span["first_capture_time_us"]) / 1e6
        assert abs(captured_s - frames_s) <= 0.1 + 0.05 * frames_s, (span, when["fps"])
        # and the answer's text names those frames
        assert f"{span['first_frame']}" in when["answer"], when
        assert by[(stream, "side")]["expected"] in ("left", "right")
    # answers are printed with human-readable capture times, not epoch microseconds
    assert "captured " in output and str(span["first_capture_time_us"]) not in output
    assert "gRPC: TLS with a throwaway CA" in output


@pytest.mark.kafka
@pytest.mark.slow
@pytest.mark.timeout(180)
def test_ctrl_c_while_streams_play_stops_every_process(demo_out: Path):
    proc = _demo(demo_out)
    seen = []
    assert proc.stdout is not None
    for line in proc.stdout:  # until the first stream plays: every service is up
        seen.append(line)
        if "> playing" in line:
            break
    else:
        pytest.fail("".join(seen))
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, "".join(seen) + output
    assert "interrupted: stopping every process" in output
    pids = _assert_none_left(demo_out)
    assert {"broker", "llm", "encoder", "ingest"} <= set(pids)

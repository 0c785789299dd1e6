import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from mochat import timestamps as ts
from mochat.cli import timestamps as ts_cli
from mochat.errors import MoChatError
from mochat.skeleton import SMPL22
from mochat.skeleton.corpus import HumanML3DCorpus
from mochat.synth import SynthConfig, write_corpus


def _bump(frames: int, start: int, end: int, height: float = 1.0) -> np.ndarray:
    """0 outside [start, end], a smoothstep rise and fall inside."""
    signal = np.zeros(frames)
    u = np.linspace(0, 1, end - start + 1)
    s = np.minimum(u, 1 - u) * 2
    signal[start:end + 1] = height * s * s * (3 - 2 * s)
    return signal


def test_turning_points_of_a_triangle():
    # flat 0..5, up to 10 at frame 15, down to 0 at frame 25, flat to 30
    signal = np.concatenate([np.zeros(5), np.arange(0, 11), np.arange(9, -1, -1), np.zeros(5)])
    assert ts.turning_points(signal.astype(float), min_swing=1.0) == [0, 15, 25]


def test_turning_points_ignore_small_reversals():
    signal = np.array([0, 5, 4.5, 10, 0], dtype=float)  # the 0.5 dip is noise
    assert ts.turning_points(signal, min_swing=1.0) == [0, 3, 4]
    assert ts.turning_points(np.zeros(10), min_swing=1.0) == []  # flat: no extremes


def test_largest_variation_finds_a_bump():
    config = ts.ExtractorConfig(smooth_sigma_frames=1.0, onset_ratio=0.01)
    span = ts.largest_variation(_bump(80, 20, 50), config)
    assert span is not None
    assert abs(span[0] - 20) <= 2 and abs(span[1] - 50) <= 2  # rise + fall are merged


def test_largest_variation_picks_the_larger_of_two_bumps():
    signal = _bump(120, 10, 40, height=0.3) + _bump(120, 60, 100, height=1.0)
    span = ts.largest_variation(signal, ts.ExtractorConfig(smooth_sigma_frames=1.0))
    assert span is not None and abs(span[0] - 60) <= 2 and abs(span[1] - 100) <= 2


def test_flat_signal_has_no_span():
    assert ts.largest_variation(np.ones(50)) is None


@pytest.mark.parametrize(
    ("action", "joints", "axis"),
    [
        ("a person waves their left hand", ("left_wrist",), "Y"),
        ("kicks with the right foot", ("right_ankle",), "Z"),
        ("punches forward", ("right_wrist",), "Z"),  # no side named: right by default
        ("claps both hands together", ("left_wrist", "right_wrist"), "Y"),
        ("raises both arms", ("left_wrist", "right_wrist"), "Y"),
        ("walks backwards slowly", ("pelvis",), "Z"),
        ("sidesteps to the left", ("pelvis",), "X"),
        ("turns a full circle", ("pelvis",), "yaw"),
        ("jumps forward", ("pelvis",), "Y"),  # the jump, not the travel
    ],
)
def test_rule_annotator(action, joints, axis):
    annotation = ts.RuleAnnotator().annotate(action)
    assert annotation is not None
    assert (annotation.joints, annotation.axis) == (joints, axis)


def test_rule_annotator_skips_actions_without_movement():
    assert ts.RuleAnnotator().annotate("stands still") is None


def _toy_body(frames: int) -> np.ndarray:
    """Hips and shoulders facing +z (left = +x); everything else at the pelvis."""
    joints = np.zeros((frames, 22, 3))
    joints[:, :, 1] = 0.9
    for name, x, y in (("left_hip", 0.1, 0.9), ("right_hip", -0.1, 0.9),
                       ("left_shoulder", 0.2, 1.4), ("right_shoulder", -0.2, 1.4)):
        joints[:, SMPL22.index(name)] = (x, y, 0.0)
    return joints


def test_trajectories_in_the_body_frame():
    joints = _toy_body(10)
    joints[:, :, 2] += 0.05 * np.arange(10)[:, None]  # walks 5 cm per frame along +z
    travel = ts.trajectory(joints, ts.Annotation("walk", ("pelvis",), "Z"))
    assert travel == pytest.approx(0.05 * np.arange(10))  # forward distance travelled
    side = ts.trajectory(joints, ts.Annotation("step", ("pelvis",), "X"))
    assert side == pytest.approx(np.zeros(10))
    joints[:, SMPL22.index("left_wrist"), 1] = np.linspace(1.0, 2.0, 10)
    height = ts.trajectory(joints, ts.Annotation("raise", ("left_wrist",), "Y"))
    assert height[-1] == pytest.approx(2.0)


def test_order_window():
    # action 1 of 3 in 90 frames: share [30, 60) widened by 0.2 share = 6 frames each side
    assert ts.order_window(1, 3, 90, margin=0.2) == (24, 66)
    assert ts.order_window(0, 1, 90, margin=0.2) == (0, 90)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth_ts")
    write_corpus(root, SynthConfig(motions=60, seed=11))
    return HumanML3DCorpus(root)


def test_pipeline_against_ground_truth(corpus):
    report = ts_cli.evaluate(corpus, "train", ts.RuleAnnotator())
    # measured 76.6 mean IoU on a 400-motion test split; a broken extractor falls far below
    assert report.mean_iou > 55.0
    assert report.r_iou_0_5 > 60.0
    assert report.annotated < report.actions or "idle" not in report.per_action


def test_cli_json(corpus, capsys):
    parser = argparse.ArgumentParser()
    ts_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["timestamps", "--data", str(corpus.root), "--split", "test",
                              "--json"])
    assert args.func(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"mean_iou", "r_iou_0_5", "r_iou_0_7", "actions", "per_action"} <= set(out)


class _FakeLLM(BaseHTTPRequestHandler):
    """A tiny OpenAI-compatible endpoint on 127.0.0.1 that answers with `reply`."""

    reply = ""
    requests: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "body": body})
        payload = json.dumps({"choices": [{"message": {"role": "assistant",
                                                       "content": type(self).reply}}]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(payload.encode())

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def llm_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeLLM)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _FakeLLM.requests = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_llm_annotator_reads_json_reply(llm_server):
    _FakeLLM.reply = 'Sure: {"joint": "left_wrist", "axis": "y"}'
    annotator = ts.LLMAnnotator(llm_server, model="glm-4")
    annotation = annotator.annotate("waves the left hand")
    assert annotation == ts.Annotation("waves the left hand", ("left_wrist",), "Y")
    (request,) = _FakeLLM.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["body"]["model"] == "glm-4"
    assert "waves the left hand" in request["body"]["messages"][0]["content"]


@pytest.mark.parametrize("reply", ["no idea", '{"joint": "tail", "axis": "Y"}',
                                   '{"joint": "head", "axis": "W"}'])
def test_llm_annotator_rejects_bad_replies(llm_server, reply):
    _FakeLLM.reply = reply
    assert ts.LLMAnnotator(llm_server).annotate("bends forward") is None


def test_llm_annotator_unreachable_is_a_mochat_error():
    annotator = ts.LLMAnnotator("http://127.0.0.1:9/v1", timeout_s=2.0)
    with pytest.raises(MoChatError, match="LLM annotator"):
        annotator.annotate("jumps")

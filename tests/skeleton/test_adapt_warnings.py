"""to_model's plausibility warnings: on every ModelMotion, in the log once a minute per
(source, layout, detail) with the repeats counted, so a live stream does not log the same
line for every window."""

from __future__ import annotations

import numpy as np
import pytest
from structlog.testing import capture_logs

from mochat.skeleton import SMPL22, adapt
from mochat.skeleton.adapt import to_model


@pytest.fixture(autouse=True)
def _fresh_limiter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(adapt, "_warned", {})


def _lying_down(frames: int = 24) -> np.ndarray:
    """SMPL-22 joints spread along z, not up: the plausibility check says "z-up?"."""
    joints = np.zeros((frames, SMPL22.num_joints, 3), np.float32)
    joints[:, :, 2] = np.linspace(0.0, 1.7, SMPL22.num_joints)
    joints[:, :, 0] = np.random.default_rng(0).normal(scale=0.05, size=SMPL22.num_joints)
    return joints


def _warnings(logs: list[dict]) -> list[dict]:
    return [e for e in logs if e["event"] == "implausible_motion"]


def test_repeated_warning_is_logged_once_with_its_repeats(monkeypatch: pytest.MonkeyPatch):
    clock = {"now": 1000.0}
    monkeypatch.setattr(adapt.time, "monotonic", lambda: clock["now"])
    with capture_logs() as logs:
        motions = [to_model(_lying_down(), SMPL22, 120.0, source="joints") for _ in range(5)]
    assert all(m.warnings for m in motions)  # every motion still carries its warnings
    first = _warnings(logs)
    assert first and len(first) == len(motions[0].warnings)
    assert "repeats" not in first[0]
    clock["now"] += adapt._WARN_EVERY_S
    with capture_logs() as logs:
        to_model(_lying_down(), SMPL22, 120.0, source="joints")
    again = _warnings(logs)
    assert [e["repeats"] for e in again] == [4] * len(again)


def test_another_source_is_logged_on_its_own():
    with capture_logs() as logs:
        to_model(_lying_down(), SMPL22, 120.0, source="joints")
        to_model(_lying_down(), SMPL22, 120.0, source="file.bvh")
    assert {e["source"] for e in _warnings(logs)} == {"joints", "file.bvh"}

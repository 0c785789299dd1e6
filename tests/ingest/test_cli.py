"""The ingest subcommands are plugged into `mochat`, and flags override the environment."""

from __future__ import annotations

import pytest

from ingest.__main__ import build_parser, settings_from_args
from mochat.cli import build_parser as mochat_parser


def test_subcommands_are_registered() -> None:
    parser = mochat_parser()
    args = parser.parse_args(["broker", "--port", "9999"])
    assert args.port == 9999 and callable(args.func)
    args = parser.parse_args(["serve", "ingest", "--bootstrap-servers", "h:1", "--encoder",
                              "e:2"])
    assert (args.bootstrap_servers, args.encoder) == ("h:1", "e:2")
    args = parser.parse_args(["replay", "a.npy", "--streams", "3", "--fps", "60",
                              "--bootstrap-servers", "h:1", "--as-fast-as-possible"])
    assert (args.files, args.streams, args.fps, args.as_fast_as_possible) == \
        (["a.npy"], 3, 60.0, True)
    # by default each file plays in its own layout at its own rate
    args = parser.parse_args(["replay", "walk.bvh", "--layout", "my_rig.yaml"])
    assert (args.fps, args.layout, args.units) == (None, "my_rig.yaml", None)


def test_flags_override_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOCHAT_INGEST_ENCODER", "env:1")
    monkeypatch.setenv("MOCHAT_INGEST_KAFKA__BOOTSTRAP_SERVERS", "env:2")
    monkeypatch.setenv("MOCHAT_INGEST_KAFKA__SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("MOCHAT_INGEST_KAFKA__SASL_MECHANISM", "SCRAM-SHA-256")
    monkeypatch.setenv("MOCHAT_INGEST_KAFKA__SASL_USERNAME", "ingest")
    monkeypatch.setenv("MOCHAT_INGEST_KAFKA__SASL_PASSWORD", "pw")
    monkeypatch.setenv("MOCHAT_INGEST_STEP_S", "0.4")
    monkeypatch.setenv("MOCHAT_INGEST_LAYOUT_FILES", "a.yaml, b.json")
    s = settings_from_args(build_parser().parse_args(["--bootstrap-servers", "flag:3"]))
    assert (s.encoder, s.kafka.bootstrap_servers, s.step_s) == ("env:1", "flag:3", 0.4)
    kw = s.kafka.client_kwargs()
    assert kw["security_protocol"] == "SASL_PLAINTEXT" and kw["sasl_mechanism"] == \
        "SCRAM-SHA-256" and kw["sasl_plain_password"] == "pw"
    # 0.4 s is 8 frames at 20 fps, 48 at 120 fps; the 3.2 s window 64 and 384
    assert (s.windowing().frames(20.0).step_frames, s.windowing().frames(120.0).step_frames) \
        == (8, 48)
    assert s.windowing().frames(120.0).window_frames == 384
    assert [p.name for p in s.layout_files] == ["a.yaml", "b.json"]

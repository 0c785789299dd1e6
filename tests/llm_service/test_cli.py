"""`mochat ask` against a real server, and `mochat serve llm` settings from env and flags."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

from llm_service.cli import settings_from_args
from llm_service.client import add_arguments, capture_time, run
from tests.llm_service.conftest import (
    GatedPipeline,
    random_joints,
    running_server,
    stored_window,
)


def _args(*argv: str) -> argparse.Namespace:
    """`mochat ask` arguments, plaintext to the loopback test server."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args([*argv, "--insecure"])


def _last_json(out: str) -> dict:
    """The client's JSON line (the in-process server's unconfigured logs share stdout)."""
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.asyncio(loop_scope="session")
async def test_ask_opens_a_session_and_follows_up(gated: GatedPipeline, tiny_checkpoint: Path,
                                                  capsys: pytest.CaptureFixture[str],
                                                  tmp_path: Path):
    async with running_server(gated, tiny_checkpoint) as (server, _stub):
        dim = server.pipeline.model.encoder.feature_dim
        server.runtime.store.add(stored_window("cam", 300, 40, dim))
        address = f"127.0.0.1:{server.port}"
        rc = await asyncio.to_thread(run, _args("When does he jump?", "--server", address,
                                                "--stream", "cam", "--new-session", "--json"))
        first = _last_json(capsys.readouterr().out)
        rc2 = await asyncio.to_thread(run, _args("And then?", "--server", address, "--session",
                                                 first["session_id"], "--tokens"))
        streamed = capsys.readouterr().out
        np.save(tmp_path / "m.npy", random_joints(30))
        rc3 = await asyncio.to_thread(run, _args("When does it start?", "--server", address,
                                                 "--upload", str(tmp_path / "m.npy"),
                                                 "--frames", "5:20", "--json"))
        uploaded = _last_json(capsys.readouterr().out)
    assert (rc, rc2, rc3) == (0, 0, 0)
    assert first["turn"] == 0 and 300 <= first["spans"][0]["first_frame"] <= 339
    assert "about: cam frames 300-339 (captured " in streamed  # turn 1 of the same session
    assert [q for q, _ in gated.calls[1].history] == ["When does he jump?"]
    assert (uploaded["window"]["first_frame"], uploaded["window"]["last_frame"]) == (5, 20)


@pytest.mark.asyncio(loop_scope="session")
async def test_a_session_keeps_its_frame_range_until_a_question_moves_it(
        gated: GatedPipeline, tiny_checkpoint: Path, capsys: pytest.CaptureFixture[str]):
    async with running_server(gated, tiny_checkpoint) as (server, _stub):
        dim = server.pipeline.model.encoder.feature_dim
        for first in (300, 340, 380):  # the latest window is 380-419
            server.runtime.store.add(stored_window("cam", first, 40, dim))
        address = f"127.0.0.1:{server.port}"

        def ask(question: str, *flags: str) -> dict:
            assert run(_args(question, "--server", address, *flags, "--json")) == 0
            return _last_json(capsys.readouterr().out)

        opened = await asyncio.to_thread(ask, "What happens?", "--stream", "cam",
                                         "--new-session", "--frames", "300:359")
        session = ("--session", opened["session_id"])
        kept = await asyncio.to_thread(ask, "And when?", *session)
        moved = await asyncio.to_thread(ask, "And here?", *session, "--frames", "340:379")
        after_move = await asyncio.to_thread(ask, "Which side?", *session)
        one_shot = await asyncio.to_thread(ask, "What now?", "--stream", "cam")
    window = [(a["window"]["first_frame"], a["window"]["last_frame"])
              for a in (opened, kept, moved, after_move, one_shot)]
    assert window == [(300, 359), (300, 359), (340, 379), (340, 379), (380, 419)]


def test_capture_times_print_as_utc_dates():
    assert capture_time(1_764_678_494_123_456) == "2025-12-02 12:28:14.123 UTC"


def test_flags_override_environment_settings(monkeypatch: pytest.MonkeyPatch):
    from llm_service.cli import register_serve

    monkeypatch.setenv("MOCHAT_LLM_MAX_BATCH", "3")
    monkeypatch.setenv("MOCHAT_LLM_MAX_QUEUE", "7")
    monkeypatch.setenv("MOCHAT_LLM_KAFKA__BOOTSTRAP_SERVERS", "10.0.0.1:9092")
    parser = argparse.ArgumentParser()
    register_serve(parser.add_subparsers())
    args = parser.parse_args(["llm", "--max-queue", "9", "--encoder", "127.0.0.1:5"])
    settings = settings_from_args(args)
    # env gives max_batch and the broker, the flag wins for max_queue
    assert (settings.max_batch, settings.max_queue) == (3, 9)
    assert settings.kafka.bootstrap_servers == "10.0.0.1:9092"
    assert settings.encoder == "127.0.0.1:5"
    args = parser.parse_args(["llm", "--bootstrap-servers", "127.0.0.1:1234"])
    assert settings_from_args(args).kafka.bootstrap_servers == "127.0.0.1:1234"

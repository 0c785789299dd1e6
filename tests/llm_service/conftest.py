"""LLM-service fixtures: a tiny random MoChat checkpoint, a gated pipeline, loopback servers.

The checkpoint is a 2-layer, 32-wide Llama with SmolLM2's tokenizer and a tiny JGSE encoder:
the real code path (chat template, splice, batched greedy decode, regression head), fast.
Its words are random; tests check what the service does with them, not what they say.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from llm_service.server import LlmServer
from llm_service.settings import LlmSettings
from llm_service.store import MotionView, StoredWindow, capture_times
from mochat.security import ChannelSecurity
from protos.mochat.v1 import llm_pb2_grpc

T0_US = 1_700_000_000_000_000  # capture time of frame 0 of the test streams
FPS = 20.0


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory, tiny_llm_dir: Path) -> Path:
    import torch

    from mochat.models import build_encoder, encoder_tiny
    from mochat.models.llm import load_llm
    from mochat.models.mochat import MoChat, MoChatConfig
    from mochat.skeleton import SMPL22

    llm_dir = tiny_llm_dir
    llm, tok = load_llm(str(llm_dir))
    torch.manual_seed(0)
    encoder = build_encoder("jgse", encoder_tiny(), SMPL22)
    model = MoChat(MoChatConfig(llm=str(llm_dir), regression_head=True), encoder, llm, tok)
    return model.save_pretrained(tmp_path_factory.mktemp("tiny-mochat"))


@pytest.fixture(scope="session")
def encoder_onnx(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The checkpoint's own encoder exported to ONNX (+ sidecar), as `mochat export` would."""
    from mochat.export.onnx import export_onnx
    from mochat.models.checkpoint import load_encoder

    return export_onnx(load_encoder(tiny_checkpoint), tmp_path_factory.mktemp("enc") / "e.onnx")


@pytest.fixture(scope="session")
def pipeline(tiny_checkpoint: Path) -> Any:
    from mochat.pipeline import MoChatPipeline

    return MoChatPipeline.from_pretrained(tiny_checkpoint, max_new_tokens=6)


@dataclass(frozen=True)
class Call:
    """One item of one answer_batch call, as the model saw it."""

    question: str
    history: tuple[tuple[str, str], ...]
    num_frames: int
    batch_size: int


class GatedPipeline:
    """The real pipeline behind a gate the test can close, recording what it was asked, so
    queue states (full, waiting past a deadline, priorities) are deterministic. Both
    schedulers go through it: the static one's `answer_batch` and the continuous one's
    `decoder()` meet the gate when a question enters the model (`enter`), wrap the per-step
    `keep` hook (`wrap_keep`) and report their answers (`answered`): test doubles override
    these."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.model = inner.model
        self.gate, self.entered = threading.Event(), threading.Event()
        self.gate.set()
        self.calls: list[Call] = []

    @property
    def max_new_tokens(self) -> int:
        return self.inner.max_new_tokens

    @max_new_tokens.setter
    def max_new_tokens(self, value: int) -> None:
        self.inner.max_new_tokens = value

    def features(self, joints: np.ndarray, layout: Any) -> Any:
        return self.inner.features(joints, layout)

    def enter(self, items: list[tuple[Any, str]], batch_size: int) -> None:
        """Questions reach the model (in its thread): wait at the gate, record them."""
        self.entered.set()
        assert self.gate.wait(timeout=60), "test left the gate closed"
        self.calls.extend(Call(q, tuple(c.turns), c.features.shape[0], batch_size)
                          for c, q in items)

    def wrap_keep(self, keep: Any) -> Any:
        return keep

    def answered(self, items: list[tuple[Any, str]], answers: list[Any]) -> None:
        """The model answered `items` (in its thread)."""

    def answer_batch(self, items: list[tuple[Any, str]], *, on_token: Any = None,
                     keep: Any = None) -> list[Any]:
        self.enter(items, len(items))
        answers = self.inner.answer_batch(items, on_token=on_token, keep=self.wrap_keep(keep))
        self.answered(items, answers)
        return answers

    def decoder(self, **kwargs: Any) -> GatedDecoder:
        return GatedDecoder(self, self.inner.decoder(**kwargs))

    def questions(self) -> list[str]:
        return [c.question for c in self.calls]


class GatedDecoder:
    """`pipeline.decoder()` through a GatedPipeline's hooks (batch_size: the rows decoding
    once the question joins)."""

    def __init__(self, gated: GatedPipeline, inner: Any) -> None:
        self.gated, self.inner = gated, inner
        self.items: dict[int, tuple[Any, str]] = {}

    def __len__(self) -> int:
        return len(self.inner)

    @property
    def prefix_cache(self) -> Any:
        return self.inner.prefix_cache

    def add(self, conv: Any, question: str, **kwargs: Any) -> int:
        self.gated.enter([(conv, question)], len(self.inner) + 1)
        seq_id = self.inner.add(conv, question, **kwargs)
        self.items[seq_id] = (conv, question)
        return seq_id

    def step(self, keep: Any = None) -> list[tuple[int, Any]]:
        done = self.inner.step(self.gated.wrap_keep(keep))
        if done:
            self.gated.answered([self.items.pop(i) for i, _ in done], [a for _, a in done])
        return done

    def reset(self) -> list[int]:
        self.items.clear()
        return self.inner.reset()


@pytest.fixture
def gated(pipeline: Any) -> GatedPipeline:
    return GatedPipeline(pipeline)


def stored_window(stream_id: str, first_frame: int, frames: int, dim: int, *,
                  produced_ms: int | None = None, seed: int = 0) -> StoredWindow:
    """A window of random (T, D) features with capture times at FPS from T0_US."""
    import time

    rng = np.random.default_rng(seed)
    features = rng.normal(size=(frames, dim)).astype(np.float32)
    first_us = T0_US + round(first_frame * 1e6 / FPS)
    last_us = T0_US + round((first_frame + frames - 1) * 1e6 / FPS)
    view = MotionView(stream_id, (f"{stream_id}:{first_frame}",), first_frame, FPS, features,
                      capture_times(first_us, last_us, frames))
    return StoredWindow(view, int(time.time() * 1000) if produced_ms is None else produced_ms)


def random_joints(frames: int, seed: int = 0) -> np.ndarray:
    """(T, 22, 3) positions in metres with no zero-length bone (normalize needs a scale)."""
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 0.3, size=(frames, 22, 3)).astype(np.float32)


@asynccontextmanager
async def running_server(pipeline: Any, checkpoint: Path, *,
                         client: ChannelSecurity | None = None, **overrides: Any
                         ) -> AsyncIterator[tuple[LlmServer, llm_pb2_grpc.LlmServiceStub]]:
    """A real server on an ephemeral loopback port (no Kafka unless asked) and a stub:
    plaintext (the explicit development flag) unless the overrides give TLS, and then
    `client`'s TLS."""
    plain = "tls" not in overrides
    settings = LlmSettings(**({"model": checkpoint, "port": 0, "consume": False,
                               "log_level": "warning", "insecure": plain} | overrides))
    server = LlmServer(settings, pipeline=pipeline)
    port = await server.start()
    client = client or ChannelSecurity(insecure=plain)
    channel = client.channel(f"127.0.0.1:{port}")
    try:
        yield server, llm_pb2_grpc.LlmServiceStub(channel)
    finally:
        await channel.close()
        await server.stop(grace_s=1.0)

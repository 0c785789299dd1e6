"""A small synthetic corpus, its dialogues and a tiny MoChat checkpoint for the batch tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread: the tiny model's matmuls are too small to share, and on a busy
    2-core machine two spinning threads make these tests 3x slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mochat.synth import SynthConfig, write_corpus

    root = tmp_path_factory.mktemp("synth")
    write_corpus(root, SynthConfig(motions=40, seed=3))  # 6 test motions
    return root


@pytest.fixture(scope="session")
def dialogues(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mochat.dialogue.build import build_dialogues

    out = tmp_path_factory.mktemp("dialogues")
    build_dialogues(corpus, out, general=False)
    return out


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory, tiny_llm_dir: Path) -> Path:
    """The shipped checkpoint's shape (per-frame head, 2 frames a token), tiny and random."""
    from dataclasses import replace

    import torch

    from mochat.models import build_encoder, encoder_tiny
    from mochat.models.llm import load_llm
    from mochat.models.mochat import MoChat, MoChatConfig
    from mochat.skeleton import SMPL22

    llm, tokenizer = load_llm(str(tiny_llm_dir))
    torch.manual_seed(0)
    # a 512-frame window as the shipped encoder's, so no test motion is cut in windows
    encoder = build_encoder("jgse", replace(encoder_tiny(), max_frames=512), SMPL22)
    config = MoChatConfig(llm=str(tiny_llm_dir), pool_frames=2, head="frames")
    model = MoChat(config, encoder, llm, tokenizer)
    return model.save_pretrained(tmp_path_factory.mktemp("tiny-mochat"))

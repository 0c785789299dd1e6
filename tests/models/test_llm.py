"""Model loading stays out of user output: no weights progress bar, no library notices."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from mochat.cli import main
from mochat.models.llm import quiet_loading


@pytest.fixture(scope="module")
def lora_checkpoint(tmp_path_factory: pytest.TempPathFactory, tiny_llm_dir: Path) -> Path:
    """The tiny test model with a LoRA adapter, as the shipped checkpoint is: loading it goes
    through peft, which is where transformers' `is_gradient_checkpointing` notice came from."""
    import torch
    from peft import LoraConfig, get_peft_model

    from mochat.models import build_encoder, encoder_tiny
    from mochat.models.llm import load_llm
    from mochat.models.mochat import MoChat, MoChatConfig
    from mochat.skeleton import SMPL22

    llm, tokenizer = load_llm(str(tiny_llm_dir))
    torch.manual_seed(0)
    model = MoChat(MoChatConfig(llm=str(tiny_llm_dir), regression_head=True),
                   build_encoder("jgse", encoder_tiny(), SMPL22), llm, tokenizer)
    with quiet_loading():
        model.llm = get_peft_model(model.llm, LoraConfig(  # type: ignore[assignment]
            r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    return model.save_pretrained(tmp_path_factory.mktemp("tiny-lora-mochat"))


@pytest.fixture
def motion_file(tmp_path: Path) -> Path:
    from mochat.synth import synthesize_motion

    path = tmp_path / "m.npy"
    np.save(path, synthesize_motion("m", np.random.default_rng(0)).joints)
    return path


def _chat(checkpoint: Path, motion: Path, *extra: str) -> int:
    return main(["chat", str(motion), "--model", str(checkpoint), "--ask",
                 "When does the person jump?", "--json", "--max-new-tokens", "4", *extra])


def _notices(records: list[warnings.WarningMessage]) -> list[str]:
    # by category, not file: a deprecated-kwarg notice is attributed to torch's Module call
    return [str(r.message) for r in records
            if issubclass(r.category, FutureWarning | DeprecationWarning)]


def test_chat_prints_only_its_answer(lora_checkpoint: Path, motion_file: Path,
                                     recwarn: pytest.WarningsRecorder,
                                     capsys: pytest.CaptureFixture[str]):
    assert _chat(lora_checkpoint, motion_file) == 0
    out, err = capsys.readouterr()
    assert "Loading weights" not in err + out
    # neither peft's is_gradient_checkpointing nor the decode loop's (now `cache=`) notice
    assert _notices(list(recwarn)) == []
    assert set(json.loads(out)) >= {"text", "span"}  # stdout is the one JSON object


def test_verbose_chat_shows_the_loading_output(lora_checkpoint: Path, motion_file: Path,
                                               recwarn: pytest.WarningsRecorder,
                                               capsys: pytest.CaptureFixture[str]):
    # the check above can fail: with --verbose the same run shows both again
    assert _chat(lora_checkpoint, motion_file, "--verbose") == 0
    # (the weights bar itself shows only on a process's first load, so the warning is what
    # is checked: it comes back with --verbose whatever ran before)
    assert any("is_gradient_checkpointing" in m for m in _notices(list(recwarn)))


def test_quiet_loading_restores_the_library_state():
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.enable_progress_bar()
    with quiet_loading():
        assert not hf_logging.is_progress_bar_enabled()
        assert hf_logging.get_verbosity() == hf_logging.ERROR
        with pytest.warns(UserWarning):  # other warnings still show
            warnings.warn("ours", UserWarning, stacklevel=1)
    assert hf_logging.is_progress_bar_enabled() and hf_logging.get_verbosity() == level

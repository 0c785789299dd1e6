"""A small synthetic corpus shared by the training tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from mochat.synth import SynthConfig, write_corpus


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    write_corpus(root, SynthConfig(motions=40, seed=3))
    return root

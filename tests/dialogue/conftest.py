from pathlib import Path

import pytest

from mochat.synth import SynthConfig, write_corpus


@pytest.fixture(scope="session")
def synth_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic corpus (80 motions, ~0.2 s to write) with ground-truth spans."""
    root = tmp_path_factory.mktemp("synth")
    write_corpus(root, SynthConfig(motions=80, seed=7))
    return root

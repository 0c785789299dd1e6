"""Session-wide test fixtures: seeding. Area fixtures live in tests/<area>/conftest.py."""

from __future__ import annotations

import random

import numpy as np
import pytest

pytest_plugins = ["tests.kafka_broker", "tests.llm_fixtures", "tests.tls_fixtures"]


@pytest.fixture(autouse=True)
def _seed() -> None:
    random.seed(0)
    np.random.seed(0)
    try:
        import torch
    except ImportError:
        return
    torch.manual_seed(0)

"""pytest plugin: one local Tansu broker per test session, for tests marked `kafka`.

Registered from tests/conftest.py (`pytest_plugins`). The broker starts on a free loopback
port the first time a `kafka` test runs, and is stopped by PID when the session ends. Tests
get its address from the `kafka_bootstrap` fixture and should use topic names of their own
(`kafka_topics`) so tests never read each other's records.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest

from ingest.broker import LocalBroker, create_topics, run_sync

_counter = itertools.count()


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    log_path = tmp_path_factory.mktemp("tansu") / "tansu.log"
    with LocalBroker(topics={}, log_path=log_path) as broker:
        yield broker


@pytest.fixture
def kafka_bootstrap(kafka_broker: LocalBroker) -> str:
    return kafka_broker.bootstrap_servers


@pytest.fixture
def kafka_topics(kafka_broker: LocalBroker) -> Callable[..., dict[str, str]]:
    """make(frames=4, features=4, dlq=1) -> fresh {"frames","features","dlq"} topic names."""

    def make(frames: int = 4, features: int = 4, dlq: int = 1) -> dict[str, str]:
        n = next(_counter)
        names = {"frames": f"t{n}.mocap.frames", "features": f"t{n}.mocap.features",
                 "dlq": f"t{n}.mocap.frames.dlq"}
        run_sync(create_topics({"bootstrap_servers": kafka_broker.bootstrap_servers},
                               {names["frames"]: frames, names["features"]: features,
                                names["dlq"]: dlq}))
        return names

    return make


@pytest.fixture(autouse=True)
def _kafka_marker_starts_broker(request: pytest.FixtureRequest) -> None:
    """A test marked `kafka` gets the session broker even if it names no broker fixture."""
    if request.node.get_closest_marker("kafka") is not None:
        request.getfixturevalue("kafka_broker")

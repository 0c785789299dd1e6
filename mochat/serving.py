"""What every MoChat gRPC service does the same way: health (+ reflection when asked),
binding with TLS (plaintext only when asked for, on loopback), the health status, running
until SIGTERM/SIGINT, and the user's skeleton layout files.

grpc is imported inside the functions: the core stays importable without the `grpc` extra.
"""

from __future__ import annotations

import asyncio
import json
import math
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from mochat.errors import ConfigError
from mochat.skeleton import SkeletonLayout, load_layout_file
from mochat.skeleton.resample import resampled_length

if TYPE_CHECKING:
    from mochat.security import ServerTLS

log = structlog.get_logger("mochat.serving")


class Service(Protocol):
    async def start(self) -> int: ...

    async def stop(self, grace_s: float | None = None) -> None: ...


def bind(server: Any, health_servicer: Any, service_name: str, host: str, port: int, *,
         tls: ServerTLS, insecure: bool, reflection: bool, authenticated: bool,
         env_prefix: str) -> int:
    """Register health (and reflection when asked) on a grpc.aio server, bind host:port
    with TLS (or plaintext: asked for, loopback only), return the port.

    ConfigError when the address cannot be bound, when neither TLS nor `insecure` is set,
    when plaintext would listen on a network address, or when a network address would be
    served without a token file (every caller anonymous).
    """
    from grpc_health.v1 import health, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection as grpc_reflection

    from mochat.security import DEV_WARNING, check_transport, is_loopback

    check_transport(host, tls, insecure, env_prefix=env_prefix)
    if not authenticated and not is_loopback(host):
        raise ConfigError(f"no token file ({env_prefix}AUTH__TOKEN_FILE, --token-file): "
                          f"every caller would be anonymous; refused on {host!r}, which is "
                          "not a loopback address")
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if reflection:
        grpc_reflection.enable_server_reflection(
            (service_name, health.SERVICE_NAME, grpc_reflection.SERVICE_NAME), server)
    address = f"{host}:{port}"
    try:
        if tls.enabled:
            bound: int = server.add_secure_port(address, tls.credentials())
        else:
            bound = server.add_insecure_port(address)
    except RuntimeError as err:
        raise ConfigError(f"cannot bind {address}: {err}") from None
    if not tls.enabled:
        log.warning("plaintext", service=service_name, address=f"{host}:{bound}",
                    reason=DEV_WARNING)
    if not authenticated:
        log.warning("unauthenticated", service=service_name,
                    reason="no token file: every caller is anonymous (development only)")
    return bound


async def set_serving(health_servicer: Any, service_name: str, serving: bool) -> None:
    """The overall ("") and the service's health status."""
    from grpc_health.v1 import health_pb2

    status = (health_pb2.HealthCheckResponse.SERVING if serving
              else health_pb2.HealthCheckResponse.NOT_SERVING)
    for name in ("", service_name):
        await health_servicer.set(name, status)


async def run_until_signalled(service: Service) -> None:
    """Start, wait for SIGTERM or SIGINT, then stop gracefully."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await service.start()
    await stop.wait()
    await service.stop()


def split_paths(value: object) -> object:
    """A `layout_files` setting from the environment: 'a.yaml,b.json' or a JSON list -> a
    list of paths (anything else is left to the settings' own validation)."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        return json.loads(text)
    return [part.strip() for part in text.split(",") if part.strip()]


def load_layout_files(paths: Sequence[Path]) -> list[SkeletonLayout]:
    """Read and register a service's layout files at start; ConfigError names a bad one.

    Every service that reads joints (ingest, encoder, LLM uploads) must know the layouts its
    streams name, so each takes the same `layout_files` setting.
    """
    layouts = []
    for path in paths:
        if not Path(path).is_file():
            raise ConfigError(f"layout file not found: {path}")
        layouts.append(load_layout_file(path))
    return layouts


def longest_source(max_frames: int, fps: float, model_fps: float) -> int:
    """The most frames at `fps` that resample to at most `max_frames` at `model_fps`: a
    model's frame limit in a stream's own terms (64 at 20 fps -> 384 at 120 fps)."""
    most = max(1, math.ceil(max_frames * fps / model_fps))
    while most > 1 and resampled_length(most, fps, model_fps) > max_frames:
        most -= 1
    while resampled_length(most + 1, fps, model_fps) <= max_frames:
        most += 1
    return most

"""What every MoChat gRPC service does the same way: health + reflection, binding, the
health status, and running until SIGTERM/SIGINT.

grpc is imported inside the functions: the core stays importable without the `grpc` extra.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any, Protocol

from mochat.errors import ConfigError


class Service(Protocol):
    async def start(self) -> int: ...

    async def stop(self, grace_s: float | None = None) -> None: ...


def bind(server: Any, health_servicer: Any, service_name: str, host: str, port: int) -> int:
    """Register health and reflection on a grpc.aio server, bind host:port, return the port
    (ConfigError when the address cannot be bound)."""
    from grpc_health.v1 import health, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection

    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (service_name, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    address = f"{host}:{port}"
    try:
        bound: int = server.add_insecure_port(address)
    except RuntimeError as err:
        raise ConfigError(f"cannot bind {address}: {err}") from None
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

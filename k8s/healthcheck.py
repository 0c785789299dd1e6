#!/usr/bin/env python3
"""gRPC health check over TLS, for Kubernetes exec probes (installed in the images as
/usr/local/bin/mochat-healthcheck).

The kubelet's native `grpc:` probe speaks plaintext only (TLS needs Kubernetes 1.37's
`mode: TLS`), and the services refuse plaintext on any non-loopback address, so a probe
must bring its own TLS: this connects to 127.0.0.1:PORT, checks the server's certificate
against --ca-file under the name it was issued to (--server-name), presents a client
certificate where the server requires one, and asks grpc.health.v1 Check. Health is public
(no token). Exit 0 when the status is SERVING, 1 otherwise (NOT_SERVING while the model
loads or while draining on SIGTERM, an unreachable port, a TLS failure), with one line on
stderr saying which.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mochat-healthcheck", description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--ca-file", type=Path, required=True, help="PEM CA of the server")
    p.add_argument("--server-name", required=True, help="a DNS name in the server's cert")
    p.add_argument("--cert-file", type=Path, help="PEM client certificate (mutual TLS)")
    p.add_argument("--key-file", type=Path, help="PEM client key (mutual TLS)")
    p.add_argument("--service", default="", help="health service name ('' = the server)")
    p.add_argument("--timeout-s", type=float, default=2.0)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    try:
        creds = grpc.ssl_channel_credentials(
            root_certificates=args.ca_file.read_bytes(),
            private_key=args.key_file.read_bytes() if args.key_file else None,
            certificate_chain=args.cert_file.read_bytes() if args.cert_file else None)
    except OSError as err:
        sys.stderr.write(f"mochat-healthcheck: {err}\n")
        return 1
    options = [("grpc.ssl_target_name_override", args.server_name)]
    with grpc.secure_channel(f"{args.host}:{args.port}", creds, options=options) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=args.service), timeout=args.timeout_s)
        except grpc.RpcError as err:
            sys.stderr.write(f"mochat-healthcheck: {err.code().name}: {err.details()}\n")
            return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    if reply.status != health_pb2.HealthCheckResponse.SERVING:
        sys.stderr.write(f"mochat-healthcheck: {status}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

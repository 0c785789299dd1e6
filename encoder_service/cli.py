"""`mochat serve encoder`: flags override MOCHAT_ENCODER_* environment settings."""

from __future__ import annotations

import argparse
import asyncio

from encoder_service.settings import EncoderSettings
from mochat.cli.help import settings_defaults
from mochat.security import add_server_flags, check_environment, server_overrides


def register(serve_subparsers: argparse._SubParsersAction) -> None:
    p = serve_subparsers.add_parser(
        "encoder", help="serve the exported skeleton encoder over gRPC",
        description="Serve an exported encoder (.onnx or TensorRT engine, with its .json "
                    "sidecar) on HOST:PORT. Every flag has a MOCHAT_ENCODER_<NAME> variable.")
    p.add_argument("--model", help="encoder.onnx or a TensorRT .engine/.plan (required, "
                   "here or as MOCHAT_ENCODER_MODEL)")
    p.add_argument("--port", type=int, help="gRPC port; 0 = any free port")
    p.add_argument("--host", help="bind address")
    p.add_argument("--backend", choices=("auto", "onnxruntime", "tensorrt"))
    p.add_argument("--device", choices=("auto", "cpu", "cuda"))
    p.add_argument("--intra-op-threads", type=int)
    p.add_argument("--metrics-port", type=int,
                   help="Prometheus port; 0 = any free port, unset = no metrics")
    p.add_argument("--max-batch", type=int, help="windows per model call")
    p.add_argument("--max-delay-ms", type=float, help="longest wait to fill a batch")
    p.add_argument("--max-queue-windows", type=int)
    p.add_argument("--no-batching", dest="batching", action="store_false", default=None,
                   help="run every request alone")
    p.add_argument("--max-frames", type=int, help="frames per window at the model's rate; "
                   "unset = the model's limit from its sidecar")
    p.add_argument("--layout-file", dest="layout_files", action="append", metavar="FILE",
                   help="a skeleton layout file (YAML/JSON) windows may come in; repeatable")
    p.add_argument("--max-request-bytes", type=int)
    p.add_argument("--shutdown-grace-s", type=float)
    p.add_argument("--log-level", choices=("debug", "info", "warning", "error"))
    add_server_flags(p, "MOCHAT_ENCODER_")
    settings_defaults(p, EncoderSettings)
    p.set_defaults(func=run)


def settings_from_args(args: argparse.Namespace) -> EncoderSettings:
    """Flags over MOCHAT_ENCODER_* variables; ConfigError for a variable no setting reads."""
    check_environment(EncoderSettings)
    fields = set(EncoderSettings.model_fields)
    overrides = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    return EncoderSettings(**(overrides | server_overrides(args)))


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from encoder_service.server import serve
    from mochat.errors import ConfigError
    from mochat.log import configure_logging

    try:
        settings = settings_from_args(args)
    except ValidationError as err:
        raise ConfigError(f"invalid settings: {err}") from None
    configure_logging(settings.log_level)
    asyncio.run(serve(settings))
    return 0

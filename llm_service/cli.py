"""Subcommands the LLM service plugs into `mochat` (entry points in pyproject.toml).

    mochat serve llm --model DIR --port PORT --bootstrap-servers HOST:PORT --encoder HOST:PORT
    mochat ask --server HOST:PORT --stream ID "QUESTION" [--json] [--session ID]

Imports of torch, Kafka and gRPC happen inside the commands, so `mochat --help` stays cheap.
"""

from __future__ import annotations

import argparse


def register_serve(serve_sub: argparse._SubParsersAction) -> None:
    p = serve_sub.add_parser(
        "llm", help="answer questions about motion streams over gRPC",
        description="Serve a MoChat checkpoint on HOST:PORT, reading motion features from "
                    "Kafka. Every flag has a MOCHAT_LLM_<NAME> variable.")
    p.add_argument("--model", help="MoChat checkpoint directory "
                   "(default models/mochat-smollm2-synth)")
    p.add_argument("--port", type=int, help="gRPC port; 0 = any free port")
    p.add_argument("--host", help="bind address")
    p.add_argument("--bootstrap-servers", help="Kafka bootstrap servers HOST:PORT[,...]")
    p.add_argument("--features-topic", help="topic of MotionFeatures")
    p.add_argument("--start-from", choices=("retention", "earliest", "latest"))
    p.add_argument("--no-kafka", dest="consume", action="store_false", default=None,
                   help="read no features (uploaded sequences only)")
    p.add_argument("--encoder", help="encoder service HOST:PORT for uploaded sequences; "
                   "unset = the checkpoint's encoder in-process")
    p.add_argument("--layout-file", dest="layout_files", action="append", metavar="FILE",
                   help="a skeleton layout file (YAML/JSON) uploads may come in; repeatable")
    p.add_argument("--metrics-port", type=int,
                   help="Prometheus port; 0 = any free port, unset = no metrics")
    p.add_argument("--max-batch", type=int, help="questions per batched decode")
    p.add_argument("--no-batching", dest="batching", action="store_false", default=None,
                   help="answer every question alone")
    p.add_argument("--max-queue", type=int, help="queued questions before RESOURCE_EXHAUSTED")
    p.add_argument("--max-new-tokens", type=int, help="default generation limit")
    p.add_argument("--torch-threads", type=int)
    p.add_argument("--shutdown-grace-s", type=float)
    p.add_argument("--log-level", choices=("debug", "info", "warning", "error"))
    from ingest.kafka import KafkaConnection
    from llm_service.settings import LlmSettings
    from mochat.cli.help import settings_defaults
    from mochat.security import add_server_flags

    add_server_flags(p, "MOCHAT_LLM_")
    p.add_argument("--encoder-insecure", action="store_true", default=None,
                   help="plaintext to a loopback --encoder (development); TLS and the "
                   "token for the encoder: MOCHAT_LLM_ENCODER_CHANNEL__*")

    settings_defaults(p, LlmSettings, extra={
        "bootstrap_servers": KafkaConnection().bootstrap_servers})
    p.set_defaults(func=run_serve)


def settings_from_args(args: argparse.Namespace):  # -> LlmSettings (imported lazily)
    from pydantic import ValidationError

    from llm_service.settings import LlmSettings
    from mochat.errors import ConfigError
    from mochat.security import check_environment, server_overrides

    check_environment(LlmSettings)  # a MOCHAT_LLM_* variable no setting reads is an error
    fields = set(LlmSettings.model_fields)
    overrides = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    if getattr(args, "bootstrap_servers", None):
        overrides["kafka"] = {"bootstrap_servers": args.bootstrap_servers,
                              "client_id": "mochat-llm"}
    if getattr(args, "encoder_insecure", None):
        overrides["encoder_channel"] = {"insecure": True}
    try:
        return LlmSettings(**(overrides | server_overrides(args)))
    except ValidationError as err:
        raise ConfigError(f"invalid settings: {err}") from None


def run_serve(args: argparse.Namespace) -> int:
    import asyncio

    from llm_service.server import serve
    from mochat.log import configure_logging

    settings = settings_from_args(args)
    configure_logging(settings.log_level)
    asyncio.run(serve(settings))
    return 0


def register_ask(sub: argparse._SubParsersAction) -> None:
    from llm_service.client import add_arguments

    p = sub.add_parser("ask", help="ask the LLM service about a stream, session or upload")
    add_arguments(p)
    p.set_defaults(func=_run_ask)


def _run_ask(args: argparse.Namespace) -> int:
    from llm_service.client import run

    return run(args)

"""Subcommands the ingest package plugs into `mochat` (entry points in pyproject.toml).

    mochat broker --port PORT                          # local Tansu broker, foreground
    mochat serve ingest --bootstrap-servers H:P --encoder H:P
    mochat replay FILE... --topic mocap.frames --fps 120 --streams N --bootstrap-servers H:P

Imports of Kafka and gRPC happen inside the commands, so `mochat --help` stays cheap.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading


def register_broker(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("broker", help="run a local Kafka-compatible broker (Tansu) until "
                       "interrupted")
    p.add_argument("--port", type=int, default=9092, help="loopback port (default 9092)")
    p.add_argument("--partitions", type=int, default=None,
                   help="partitions of mocap.frames and mocap.features (default 4)")
    p.add_argument("--host", default="127.0.0.1",
                   help="bind address (default 127.0.0.1; 0.0.0.0 only inside a container)")
    p.add_argument("--advertised-host", default=None,
                   help="host name clients are told to use (default: --host)")
    p.set_defaults(func=_run_broker)


def _run_broker(args: argparse.Namespace) -> int:
    from ingest.broker import DEFAULT_PARTITIONS, LocalBroker

    topics = dict(DEFAULT_PARTITIONS)
    if args.partitions:
        topics.update({"mocap.frames": args.partitions, "mocap.features": args.partitions})
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with LocalBroker(args.port, topics=topics, host=args.host,
                     advertised_host=args.advertised_host) as broker:
        listing = ", ".join(f"{t}[{n}]" for t, n in topics.items())
        print(f"broker ready on {broker.bootstrap_servers} (pid {broker.pid}); "  # noqa: T201
              f"topics: {listing}", flush=True)
        while not stop.is_set():
            if broker.process is None or broker.process.poll() is not None:
                print("mochat broker: error: tansu exited", file=sys.stderr)  # noqa: T201
                return 1
            stop.wait(0.5)
    return 0


def register_serve(serve_sub: argparse._SubParsersAction) -> None:
    from ingest.kafka import KafkaConnection
    from ingest.settings import IngestSettings
    from mochat.cli.help import settings_defaults

    window = IngestSettings.model_fields
    p = serve_sub.add_parser(
        "ingest", help="Kafka frames -> windows -> encoder -> features",
        description="Cut each stream's frames into windows, encode them with the encoder "
                    "service and publish the features. Every setting has a "
                    "MOCHAT_INGEST_<NAME> variable; the windows: MOCHAT_INGEST_WINDOW_S "
                    f"(default {window['window_s'].default} s), MOCHAT_INGEST_STEP_S "
                    f"(default {window['step_s'].default} s), MOCHAT_INGEST_GRACE_MS "
                    f"(default {window['grace_ms'].default} ms).")
    p.add_argument("--bootstrap-servers", help="Kafka bootstrap servers HOST:PORT[,...]")
    p.add_argument("--encoder", help="encoder service address HOST:PORT")
    p.add_argument("--encoder-insecure", action="store_true", default=None,
                   help="plaintext to a loopback --encoder (development)")
    p.add_argument("--group-id", help="consumer group id")
    p.add_argument("--metrics-port", type=int,
                   help="Prometheus port; 0 = any free port, unset = no metrics")
    settings_defaults(p, IngestSettings, extra={
        "bootstrap_servers": KafkaConnection().bootstrap_servers})
    p.set_defaults(func=_run_serve)


def _run_serve(args: argparse.Namespace) -> int:
    from ingest.__main__ import main

    argv = []
    for flag in ("bootstrap_servers", "encoder", "group_id", "metrics_port"):
        value = getattr(args, flag)
        if value is not None:
            argv += [f"--{flag.replace('_', '-')}", str(value)]
    if getattr(args, "encoder_insecure", None):
        argv.append("--encoder-insecure")
    return main(argv)


def register_replay(sub: argparse._SubParsersAction) -> None:
    from ingest.replay import add_arguments

    p = sub.add_parser("replay", help="produce motion files as live frame streams to Kafka")
    add_arguments(p)
    p.set_defaults(func=_run_replay)


def _run_replay(args: argparse.Namespace) -> int:
    from ingest.replay import run_cli

    return run_cli(args)

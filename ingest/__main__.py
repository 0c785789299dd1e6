"""`python -m ingest` (same as `mochat serve ingest`): flags override MOCHAT_INGEST_* settings."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from mochat.errors import ConfigError, MoChatError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ingest", description=__doc__)
    p.add_argument("--bootstrap-servers", help="Kafka bootstrap servers HOST:PORT[,...]")
    p.add_argument("--encoder", help="encoder service HOST:PORT")
    p.add_argument("--encoder-insecure", action="store_true", default=None,
                   help="plaintext to a loopback --encoder (development); TLS and the token "
                   "for the encoder: MOCHAT_INGEST_ENCODER_CHANNEL__*")
    p.add_argument("--group-id")
    p.add_argument("--frames-topic")
    p.add_argument("--features-topic")
    p.add_argument("--dlq-topic")
    p.add_argument("--layout-file", dest="layout_files", action="append", metavar="FILE",
                   help="a skeleton layout file (YAML/JSON) frames may name; repeatable")
    p.add_argument("--metrics-port", type=int, help="Prometheus port (0 = any free port)")
    p.add_argument("--log-level", choices=("debug", "info", "warning", "error"))
    return p


def settings_from_args(args: argparse.Namespace):  # -> IngestSettings
    from pydantic import ValidationError

    from ingest.settings import IngestSettings
    from mochat.security import check_environment

    check_environment(IngestSettings)  # a MOCHAT_INGEST_* variable no setting reads
    overrides = {k: v for k, v in vars(args).items()
                 if v is not None and k not in ("bootstrap_servers", "encoder_insecure")}
    if args.bootstrap_servers is not None:
        overrides["kafka"] = {"bootstrap_servers": args.bootstrap_servers}
    if args.encoder_insecure:
        overrides["encoder_channel"] = {"insecure": True}
    try:
        return IngestSettings(**overrides)
    except ValidationError as err:
        raise ConfigError(f"invalid settings: {err}") from None


async def _run(settings) -> int:  # noqa: ANN001 - IngestSettings, imported lazily
    from ingest.service import serve

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return await serve(settings, stop)


def main(argv: list[str] | None = None) -> int:
    from mochat.log import configure_logging

    args = build_parser().parse_args(argv)
    try:
        settings = settings_from_args(args)
        configure_logging(settings.log_level)
        return asyncio.run(_run(settings))
    except KeyboardInterrupt:
        return 130
    except MoChatError as err:
        sys.stderr.write(f"ingest: error: {err}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())

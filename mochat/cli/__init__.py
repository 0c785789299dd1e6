"""The `mochat` command: one entry point, one module per subcommand.

Core subcommands live in this package. Services add theirs (`mochat serve encoder`, ...)
through the `mochat.commands` entry-point group, so the core never imports a service.
A command module exposes `register(subparsers)`, which adds its parser and sets `func`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from importlib.metadata import entry_points

from mochat.cli.help import use_defaults_formatter

_CORE_COMMANDS = ("synth", "render", "eval", "export", "timestamps", "chat", "dialogues",
                  "batch")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mochat", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _CORE_COMMANDS:
        importlib.import_module(f"mochat.cli.{name}").register(sub)
    serve = sub.add_parser("serve", help="run a service (encoder, ingest, llm)")
    serve_sub = serve.add_subparsers(dest="service", required=True, metavar="SERVICE")
    for ep in entry_points(group="mochat.commands"):
        register = ep.load()
        register(serve_sub if ep.name.startswith("serve-") else sub)
    use_defaults_formatter(parser)  # every --help names its defaults
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # noqa: BLE001 - a CLI reports the error, not a traceback
        from mochat.errors import MoChatError

        if isinstance(err, MoChatError):
            print(f"mochat {args.command}: error: {err}", file=sys.stderr)  # noqa: T201
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())

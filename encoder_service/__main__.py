"""`python -m encoder_service --model encoder.onnx --port PORT` (same as `mochat serve encoder`)."""

from __future__ import annotations

import argparse
import sys

from encoder_service.cli import register
from mochat.errors import MoChatError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="encoder_service")
    sub = parser.add_subparsers(dest="service")
    register(sub)
    args = parser.parse_args(["encoder", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except MoChatError as err:  # a startup error is reported, not a traceback
        sys.stderr.write(f"encoder_service: error: {err}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())

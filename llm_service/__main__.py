"""`python -m llm_service --model DIR --port PORT ...` (same as `mochat serve llm`)."""

from __future__ import annotations

import argparse
import sys

from llm_service.cli import register_serve
from mochat.errors import MoChatError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llm_service")
    sub = parser.add_subparsers(dest="service")
    register_serve(sub)
    args = parser.parse_args(["llm", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except MoChatError as err:  # a startup error is reported, not a traceback
        sys.stderr.write(f"llm_service: error: {err}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())

import argparse
from collections.abc import Callable

import pytest

from mochat.cli import eval as eval_cli


@pytest.fixture
def run_eval() -> Callable[[list[str]], int]:
    """Run `mochat eval ARGS` through its own parser (independent of other subcommands)."""

    def run(argv: list[str]) -> int:
        parser = argparse.ArgumentParser(prog="mochat")
        eval_cli.register(parser.add_subparsers(dest="command", required=True))
        args = parser.parse_args(["eval", *argv])
        return int(args.func(args))

    return run

"""Every `mochat ... --help` names its defaults, services' addresses and ports included."""

from __future__ import annotations

import argparse
import re

import pytest

from mochat.cli import build_parser
from mochat.cli.help import DefaultsHelpFormatter, walk_parsers


@pytest.fixture(scope="module")
def parsers() -> dict[str, argparse.ArgumentParser]:
    return {p.prog: p for p in walk_parsers(build_parser())}


def _option_help(parser: argparse.ArgumentParser, flag: str) -> str:
    """The help text `--help` prints for `flag`, on one line."""
    action = parser._option_string_actions[flag]
    return " ".join((parser._get_formatter()._expand_help(action) if action.help else "").split())


def test_every_option_with_a_default_names_it(parsers: dict[str, argparse.ArgumentParser]):
    missing = []
    for prog, parser in parsers.items():
        assert parser.formatter_class is DefaultsHelpFormatter, prog
        parser.format_help()  # every help text formats (no stray %)
        for action in parser._actions:
            if (not action.option_strings or isinstance(action, argparse._HelpAction)
                    or action.default in (None, False, [])):
                continue
            text = _option_help(parser, action.option_strings[0])
            if "default" not in text:
                missing.append(f"{prog} {action.option_strings[0]}")
    assert not missing


@pytest.mark.parametrize(("prog", "flag", "shown"), [
    ("mochat serve encoder", "--port", "(default: 50051)"),
    ("mochat serve encoder", "--host", "(default: 127.0.0.1)"),
    ("mochat serve encoder", "--max-batch", "(default: 8)"),
    ("mochat serve llm", "--port", "(default: 50052)"),
    ("mochat serve llm", "--bootstrap-servers", "(default: 127.0.0.1:9092)"),
    ("mochat serve llm", "--start-from", "(default: retention)"),
    ("mochat serve ingest", "--encoder", "(default: 127.0.0.1:50051)"),
    ("mochat serve ingest", "--bootstrap-servers", "(default: 127.0.0.1:9092)"),
    ("mochat serve ingest", "--group-id", "(default: mochat-ingest)"),
    ("mochat ask", "--server", "(default: 127.0.0.1:50052)"),
    ("mochat broker", "--port", "(default 9092)"),
    ("mochat synth", "--motions", "(default: 2000)"),
    ("mochat render", "--stride", "(default: 1)"),
    ("mochat chat", "--max-new-tokens", "(default: 48)"),
    ("mochat export onnx", "--opset", "(default: 18)"),
    ("mochat train probe", "--train-split", "(default: train)"),
])
def test_addresses_ports_and_limits_are_shown(parsers: dict[str, argparse.ArgumentParser],
                                              prog: str, flag: str, shown: str):
    assert shown in _option_help(parsers[prog], flag)


def test_settings_backed_flags_show_the_settings_defaults(
        parsers: dict[str, argparse.ArgumentParser]):
    from encoder_service.settings import EncoderSettings
    from ingest.settings import IngestSettings
    from llm_service.settings import LlmSettings

    for prog, settings in (("mochat serve encoder", EncoderSettings),
                           ("mochat serve llm", LlmSettings),
                           ("mochat serve ingest", IngestSettings)):
        parser = parsers[prog]
        for action in parser._actions:
            field = settings.model_fields.get(action.dest)
            if field is None or field.is_required() or not action.option_strings:
                continue
            default = field.get_default(call_default_factory=True)
            if default is None or isinstance(default, bool | list):
                continue
            assert action.default is None  # unset: the environment's value still applies
            text = _option_help(parser, action.option_strings[0])
            assert re.search(rf"default:? {re.escape(str(default))}\b|default:? models/",
                             text), f"{prog} {action.option_strings[0]}: {text!r}"
    window = " ".join(parsers["mochat serve ingest"].format_help().split())
    assert "MOCHAT_INGEST_WINDOW_S (default 3.2 s)" in window


def test_formatter_adds_a_default_only_where_it_says_something():
    parser = argparse.ArgumentParser(formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--threads", type=int, default=0, help="threads (0 = its default)")
    parser.add_argument("--out", default=None, help="unset = stdout")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--fps", default=20, help="rate (default: the file's own)")
    text = " ".join(parser.format_help().split())
    assert "threads (0 = its default) (default: 0)" in text  # says what 0 means, not that
    assert "--out OUT unset = stdout --json" in text  # None: the help says what happens
    assert "--json print JSON --fps" in text  # an off flag: no "(default: False)"
    assert text.endswith("--fps FPS rate (default: the file's own)")  # already named

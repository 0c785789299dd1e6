"""Every `mochat` command and flag that README.md states exists in the real parser.

Statements come from four places: command lines in code blocks (parsed in full, as a user
would type them, without running them); command templates in tables (`mochat train
encoder/align ...`: each subcommand, each flag, plus the flags named in the row's other
cells); inline spans in prose (`mochat chat --json`, `chat --json`, "`--layout FILE` on
`chat`, `render`"), with the flags a sentence names beside its one command; and any other
flag in backticks, which must exist on some `mochat` command.
"""

from __future__ import annotations

import argparse
import re
import shlex
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from mochat.cli import build_parser
from mochat.cli.help import walk_parsers

README = Path(__file__).resolve().parent.parent / "README.md"
# Flags in README prose that belong to other tools, not to `mochat`.
OTHER_TOOLS = {"--no-deps": "pip install"}
_FLAG = re.compile(r"--[a-z][a-z0-9-]*")
_SPAN = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class Statement:
    line: int  # README line the statement starts on
    words: tuple[str, ...]  # after `mochat`: subcommands, placeholders, flags
    full: bool = False  # a complete command line: it must parse as typed

    def __str__(self) -> str:
        return f"README.md:{self.line}: mochat {' '.join(self.words)}"


@cache
def _parser() -> argparse.ArgumentParser:
    return build_parser()


def _top_commands() -> set[str]:
    return set(_subcommands(_parser()) or {})


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser] | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return None


def _words(text: str) -> list[str]:
    """A command template's words: brackets, ellipses and the `mochat` prefix dropped."""
    text = re.sub(r"[\[\]]", " ", text).replace("...", " ")
    words = shlex.split(text, comments=True)
    while words and words[0].endswith("mochat"):  # mochat, .venv/bin/mochat
        words = words[1:]
    return words


def _code_block_commands(lines: list[str]) -> list[Statement]:
    out, in_block, pending, start = [], False, "", 0
    for number, line in enumerate(lines, 1):
        if line.lstrip().startswith("```"):
            in_block = not in_block
            continue
        if not in_block:
            continue
        text = line.strip()
        if not pending and not re.match(r"(\.venv/bin/)?mochat ", text):
            continue
        start = start if pending else number
        pending += " " + text.removesuffix("\\")
        if not text.endswith("\\"):
            out.append(Statement(start, tuple(_words(pending)), full=True))
            pending = ""
    return out


def _table_commands(lines: list[str]) -> list[Statement]:
    out = []
    for number, line in enumerate(lines, 1):
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith(
            "|") else []
        first = _SPAN.fullmatch(cells[0]) if cells else None
        if first is None or not first.group(1).startswith("mochat "):
            continue
        flags = [f for cell in cells[1:] for span in _SPAN.findall(cell)
                 for f in _FLAG.findall(span) if span.startswith("--")]
        out.append(Statement(number, tuple(_words(first.group(1)) + flags)))
    return out


def _prose(lines: list[str]) -> list[tuple[int, str]]:
    """(first line, text) of each sentence outside code blocks and tables."""
    sentences, in_block, paragraph, start = [], False, [], 0
    for number, line in enumerate([*lines, ""], 1):
        if line.lstrip().startswith("```"):
            in_block = not in_block
        item = line.lstrip().startswith("- ")  # a list item starts a paragraph of its own
        if (in_block or item or line.lstrip().startswith(("```", "|", "#"))
                or not line.strip()):
            if paragraph:
                text = " ".join(paragraph)
                sentences += [(start, s) for s in re.split(r"(?<=[.;:])\s+(?=[A-Z*(`-])", text)]
            paragraph = []
            if not item or in_block:
                continue
        start = start if paragraph else number
        paragraph.append(line.strip())
    return sentences


def _prose_statements(lines: list[str]) -> tuple[list[Statement], list[tuple[int, str]]]:
    """Commands named in prose, and the flags no command claims (line, flag)."""
    tops = _top_commands()
    statements, loose = [], []
    for number, sentence in _prose(lines):
        spans = _SPAN.findall(sentence)
        commands = []
        for span in spans:
            words = span.split()
            if words[0] == "mochat" and len(words) > 1 and words[1] in tops:
                commands.append(tuple(_words(span)))
            elif words[0] in tops and len(words) > 1 and words[1].startswith("--"):
                commands.append(tuple(_words(span)))  # `chat --json`
        # "`--layout FILE` on `chat`, `render`, `ask --upload`": the flag on each of them
        for flag_span, targets in re.findall(r"`(--[^`]+)` on ((?:`[^`]+`(?:, | and )?)+)",
                                             sentence):
            for target in _SPAN.findall(targets):
                if target.split()[0] in tops:
                    commands.append((*target.split(), flag_span.split()[0]))
        bare = [f for span in spans if span.startswith("--") for f in _FLAG.findall(span)]
        named = {w for c in commands for w in c}
        if len(commands) == 1:  # the sentence's flags belong to its one command
            commands = [commands[0] + tuple(f for f in bare if f not in named)]
        elif bare:
            loose += [(number, f) for f in bare if f not in named]
        statements += [Statement(number, c) for c in dict.fromkeys(commands)]
    return statements, loose


def _statements() -> tuple[list[Statement], list[tuple[int, str]]]:
    lines = README.read_text().splitlines()
    prose, loose = _prose_statements(lines)
    return _code_block_commands(lines) + _table_commands(lines) + prose, loose


STATEMENTS, LOOSE_FLAGS = _statements()


def _subcommand_required(parser: argparse.ArgumentParser) -> bool:
    return any(isinstance(a, argparse._SubParsersAction) and a.required
               for a in parser._actions)


def _leaves(words: tuple[str, ...]) -> tuple[list[tuple[argparse.ArgumentParser, list[str]]],
                                             list[str]]:
    """The parsers `words` reach (a word `a/b` is one subcommand each) with the flags that
    follow, and the problems found on the way."""
    todo: list[tuple[argparse.ArgumentParser, list[str], list[str]]] = [
        (_parser(), ["mochat"], list(words))]
    leaves, problems = [], []
    while todo:
        parser, path, rest = todo.pop()
        choices = _subcommands(parser)
        optional = choices is not None and not _subcommand_required(parser)
        if choices is None or (optional and (not rest or rest[0].startswith("-"))):
            leaves.append((parser, [w.split("=")[0] for w in rest if w.startswith("--")]))
            continue
        word = rest[0] if rest else ""
        names = word.split("/") if word and all(w in choices for w in word.split("/")) else []
        if not names:
            problems.append(f"{' '.join(path)}: no subcommand {word!r} (has {sorted(choices)})")
        todo += [(choices[n], [*path, n], rest[1:]) for n in names]
    return leaves, problems


def _problems(statement: Statement) -> list[str]:
    leaves, problems = _leaves(statement.words)
    for parser, flags in leaves:
        problems += [f"{parser.prog}: no flag {f}" for f in flags
                     if f not in parser._option_string_actions]
    return problems


@pytest.mark.parametrize("statement", STATEMENTS, ids=str)
def test_readme_command_and_flags_exist(statement: Statement):
    assert not _problems(statement), f"{statement}: {_problems(statement)}"
    if statement.full:  # a whole command line parses as typed (argparse exits on an error)
        args = _parser().parse_args(list(statement.words))
        assert callable(args.func)


def test_loose_readme_flags_exist_on_some_command():
    known = {f for p in walk_parsers(_parser()) for f in p._option_string_actions}
    missing = [f"README.md:{line}: {flag}" for line, flag in LOOSE_FLAGS
               if flag not in known and flag not in OTHER_TOOLS]
    assert not missing


def test_the_extraction_finds_what_it_should():
    # the checker can fail: a wrong statement of each kind is caught
    assert len(STATEMENTS) > 20
    lines = ["```bash", ".venv/bin/mochat train probe --config r.yaml", "```",
             "| `mochat export onnx/tflite ...` | x |",
             "| `mochat synth --out DIR` | with `--frames` |",
             "Use `chat --no-such-flag` or `render --span S E`."]
    found = _code_block_commands(lines) + _table_commands(lines) + _prose_statements(lines)[0]
    assert [p for statement in found for p in _problems(statement)] == [
        "mochat train probe: no flag --config",
        "mochat export: no subcommand 'onnx/tflite' (has ['onnx', 'tensorrt'])",
        "mochat synth: no flag --frames", "mochat chat: no flag --no-such-flag"]

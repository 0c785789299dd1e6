"""Readers for prediction and reference files, with errors that name the file and line.

Formats (one record per line, aligned by line number across files):
- captions: one caption per line; blank lines are an error.
- spans: `start+++++end` (the paper's files) or a sentence holding "frame S ... frame E"
  (the temporal-grounding answer "From frame S to frame E.").
- gap-filling questions: `id+++++question+++++answer`, answer `left` or `right`.
- spatial answers: one free-text answer per line; a blank answer is allowed and scores wrong.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mochat.errors import DataFormatError

SEP = "+++++"
_FRAME_SPAN = re.compile(r"frame\s+(-?\d+(?:\.\d+)?)\D+?(-?\d+(?:\.\d+)?)", re.IGNORECASE)


@dataclass(frozen=True)
class GapQuestion:
    """One spatial gap-filling question: the side word of `question` is blanked as `( )`."""

    qid: str
    question: str
    answer: str  # "left" or "right"


def read_lines(path: str | Path) -> list[str]:
    """All lines of a UTF-8 text file, newline removed; an error for a missing or empty file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise DataFormatError(f"{path}: no such file") from err
    except (OSError, UnicodeDecodeError) as err:
        raise DataFormatError(f"{path}: cannot read as UTF-8 text: {err}") from err
    lines = text.splitlines()
    if not lines or not any(line.strip() for line in lines):
        raise DataFormatError(f"{path}: file is empty")
    return lines


def check_line_count(path: str | Path, lines: Sequence[Any], expected: int,
                     against: str | Path) -> None:
    """Raise when the records read from `path` are not aligned with `expected` ones."""
    if len(lines) == expected:
        return
    if len(lines) < expected:
        raise DataFormatError(f"{path}: {len(lines)} lines but {against} has {expected}; "
                              f"line {len(lines) + 1} is missing")
    raise DataFormatError(f"{path}: {len(lines)} lines but {against} has {expected}; "
                          f"line {expected + 1} has nothing to match in {against}")


def read_captions(path: str | Path) -> list[str]:
    """One stripped caption per line; a blank line is an error that names it."""
    lines = read_lines(path)
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            raise DataFormatError(f"{path}:{n}: blank line (expected one caption per line)")
    return [line.strip() for line in lines]


def parse_span(text: str) -> tuple[float, float] | None:
    """`"55+++++67"` or `"From frame 55 to frame 67."` -> (55.0, 67.0); None if neither."""
    text = text.strip()
    if SEP in text:
        parts = text.split(SEP)
        if len(parts) != 2:
            return None
        try:
            return float(parts[0]), float(parts[1])
        except ValueError:
            return None
    match = _FRAME_SPAN.search(text)
    if match is None:
        return None
    return float(match.group(1)), float(match.group(2))


def read_spans(path: str | Path) -> list[tuple[float, float]]:
    """One (start, end) span per line; an unparseable line is an error that names it."""
    spans = []
    for n, line in enumerate(read_lines(path), start=1):
        span = parse_span(line)
        if span is None:
            raise DataFormatError(f"{path}:{n}: cannot parse a span from {line!r}; "
                                  f"expected 'start{SEP}end' or 'From frame S to frame E.'")
        spans.append(span)
    return spans


def read_gap_questions(path: str | Path) -> list[GapQuestion]:
    """Gap-filling questions `id+++++question+++++answer` with answer left/right."""
    questions = []
    for n, line in enumerate(read_lines(path), start=1):
        parts = line.split(SEP)
        if len(parts) != 3:
            raise DataFormatError(f"{path}:{n}: expected 'id{SEP}question{SEP}answer', "
                                  f"got {len(parts)} fields")
        answer = parts[2].strip().lower()
        if answer not in ("left", "right"):
            raise DataFormatError(f"{path}:{n}: answer must be 'left' or 'right', "
                                  f"got {parts[2]!r}")
        questions.append(GapQuestion(parts[0].strip(), parts[1].strip(), answer))
    return questions


def read_answers(path: str | Path) -> list[str]:
    """Free-text answers, one per line (blank answers kept: they score as wrong)."""
    return read_lines(path)

import pytest

from mochat.errors import DataFormatError
from mochat.metrics.files import (
    check_line_count,
    parse_span,
    read_captions,
    read_gap_questions,
    read_spans,
)


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("55+++++67", (55.0, 67.0)),
        (" 0+++++74 ", (0.0, 74.0)),
        ("From frame 20 to frame 33.", (20.0, 33.0)),
        ("from frame 3 to 9", (3.0, 9.0)),
        ("55-67", None),
        ("a+++++b", None),
        ("1+++++2+++++3", None),
    ],
)
def test_parse_span(text, span):
    assert parse_span(text) == span


def test_read_spans_names_the_bad_line(tmp_path):
    path = _write(tmp_path, "pred.txt", "0+++++10\n5+++++oops\n")
    with pytest.raises(DataFormatError, match=r"pred\.txt:2: cannot parse a span"):
        read_spans(path)


@pytest.mark.parametrize("text", ["", "\n\n", "   \n"])
def test_empty_file_is_an_error(tmp_path, text):
    path = _write(tmp_path, "pred.txt", text)
    with pytest.raises(DataFormatError, match="pred.txt: file is empty"):
        read_captions(path)


def test_missing_file_is_an_error(tmp_path):
    with pytest.raises(DataFormatError, match="no such file"):
        read_spans(tmp_path / "absent.txt")


def test_blank_caption_line_is_named(tmp_path):
    path = _write(tmp_path, "pred.txt", "a person walks.\n\na person runs.\n")
    with pytest.raises(DataFormatError, match=r"pred\.txt:2: blank line"):
        read_captions(path)


def test_line_count_names_the_first_unmatched_line():
    with pytest.raises(DataFormatError, match="2 lines but ref.txt has 3; line 3 is missing"):
        check_line_count("pred.txt", ["a", "b"], 3, "ref.txt")
    with pytest.raises(DataFormatError, match="line 4 has nothing to match in ref.txt"):
        check_line_count("pred.txt", ["a", "b", "c", "d"], 3, "ref.txt")
    check_line_count("pred.txt", ["a"], 1, "ref.txt")  # aligned: no error


def test_gap_questions(tmp_path):
    path = _write(tmp_path, "q.txt", "007191+++++raise the () hand.+++++Left\n")
    (q,) = read_gap_questions(path)
    assert (q.qid, q.question, q.answer) == ("007191", "raise the () hand.", "left")


@pytest.mark.parametrize(
    ("line", "message"),
    [("1+++++question", "expected 'id"), ("1+++++q+++++up", "answer must be 'left' or 'right'")],
)
def test_bad_gap_question_is_named(tmp_path, line, message):
    path = _write(tmp_path, "q.txt", f"0+++++ok () hand+++++left\n{line}\n")
    with pytest.raises(DataFormatError, match=rf"q\.txt:2: {message}"):
        read_gap_questions(path)

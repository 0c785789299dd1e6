import json

import pytest

from mochat.cli import _CORE_COMMANDS
from mochat.errors import DataFormatError


def test_eval_is_a_core_command():
    assert "eval" in _CORE_COMMANDS


def _write(tmp_path, name, lines):
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines))
    return str(path)


def test_captions_json_keys(tmp_path, run_eval, capsys):
    pred = _write(tmp_path, "pred.txt", ["a b c d", "e f g h"])
    refs = [_write(tmp_path, f"ref{k}.txt", ["a b c d", "e f g h"]) for k in range(3)]
    assert run_eval(["captions", "--pred", pred, "--refs", *refs, "--json",
                     "--no-bertscore"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"bleu_1", "bleu_4", "rouge_l", "cider"}
    assert out["bleu_1"] == pytest.approx(100.0, abs=1e-6)  # exact matches


def test_captions_line_count_mismatch_names_the_line(tmp_path, run_eval):
    pred = _write(tmp_path, "pred.txt", ["a b c d"])
    refs = [_write(tmp_path, f"ref{k}.txt", ["a b c d", "e f g h"]) for k in range(3)]
    with pytest.raises(DataFormatError, match="pred.txt: 1 lines but .*ref0.txt has 2; line 2"):
        run_eval(["captions", "--pred", pred, "--refs", *refs, "--no-bertscore"])


def test_spatial_table_output(tmp_path, run_eval, capsys):
    ref = _write(tmp_path, "q.txt", ["1+++++raise () hand.+++++left",
                                     "2+++++kick with () leg.+++++right"])
    pred = _write(tmp_path, "pred.txt", ["Left", "left"])  # 1 of 2 right
    assert run_eval(["spatial", "--pred", pred, "--ref", ref]) == 0
    assert "accuracy   50.00" in capsys.readouterr().out


def test_temporal_json_and_bad_span(tmp_path, run_eval, capsys):
    gt = _write(tmp_path, "gt.txt", ["0+++++10", "0+++++10"])
    pred = _write(tmp_path, "pred.txt", ["From frame 0 to frame 10.", "5+++++15"])
    assert run_eval(["temporal", "--pred", pred, "--ref", gt, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    # IoUs 1.0 and 5/15 = 0.33: both >= 0.3, one >= 0.5 and >= 0.7
    assert out["r1_iou_0.3"] == pytest.approx(100.0)
    assert out["r1_iou_0.5"] == pytest.approx(50.0)
    assert out["r1_iou_0.7"] == pytest.approx(50.0)
    bad = _write(tmp_path, "bad.txt", ["0+++++10", "ten+++++twenty"])
    with pytest.raises(DataFormatError, match=r"bad\.txt:2"):
        run_eval(["temporal", "--pred", bad, "--ref", gt])


def test_mochat_main_reports_a_malformed_file_by_line(tmp_path, capsys):
    from mochat.cli import main

    gt = _write(tmp_path, "gt.txt", ["0+++++10", "0+++++10"])
    bad = _write(tmp_path, "bad.txt", ["0+++++10", "oops"])
    assert main(["eval", "temporal", "--pred", bad, "--ref", gt]) == 2
    assert "bad.txt:2: cannot parse a span" in capsys.readouterr().err

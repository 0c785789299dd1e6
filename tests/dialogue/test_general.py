import json

from mochat.dialogue.build import build_dialogues
from mochat.dialogue.general import GENERAL_QUESTIONS, load_general_answers


def test_shipped_answers_belong_to_the_question_list():
    items = load_general_answers()
    assert len(GENERAL_QUESTIONS) == 60
    assert len(items) >= 40  # recorded so far with SmolLM2 (resumable: the rest can follow)
    assert all(i["question"] in GENERAL_QUESTIONS and i["answer"].strip() for i in items)
    assert len({i["question"] for i in items}) == len(items)


def test_general_set_goes_to_train_only(synth_corpus, tmp_path):
    report = build_dialogues(synth_corpus, tmp_path, general=True)
    rows = [json.loads(x) for x in (tmp_path / "train" / "general.jsonl").read_text().splitlines()]
    assert report.general == len(rows) == len(load_general_answers())
    assert all(r["motion_id"] is None and r["task"] == "general" for r in rows)
    assert all("<skeleton>" not in r["conversations"][0]["value"] for r in rows)
    assert not (tmp_path / "test" / "general.jsonl").exists()

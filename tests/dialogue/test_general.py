import json

from mochat.dialogue.build import build_dialogues
from mochat.dialogue.general import (
    GENERAL_QUESTIONS,
    HELD_OUT_QUESTIONS,
    IDENTITY_QUESTIONS,
    load_general_answers,
    training_pairs,
)


def test_shipped_answers_belong_to_the_question_list():
    items = load_general_answers()
    assert len(GENERAL_QUESTIONS) == 60
    assert len(items) >= 40  # recorded so far with SmolLM2 (resumable: the rest can follow)
    assert all(i["question"] in GENERAL_QUESTIONS and i["answer"].strip() for i in items)
    assert len({i["question"] for i in items}) == len(items)


def test_general_set_goes_to_train_only(synth_corpus, tmp_path):
    report = build_dialogues(synth_corpus, tmp_path, general=True)
    rows = [json.loads(x) for x in (tmp_path / "train" / "general.jsonl").read_text().splitlines()]
    assert report.general == len(rows) == len(training_pairs(load_general_answers()))
    assert all(r["motion_id"] is None and r["task"] == "general" for r in rows)
    assert all("<skeleton>" not in r["conversations"][0]["value"] for r in rows)
    assert not (tmp_path / "test" / "general.jsonl").exists()


def test_held_out_questions_never_reach_training(synth_corpus, tmp_path):
    build_dialogues(synth_corpus, tmp_path, general=True)
    questions = [json.loads(x)["conversations"][0]["value"]
                 for x in (tmp_path / "train" / "general.jsonl").read_text().splitlines()]
    assert "Who are you?" in HELD_OUT_QUESTIONS
    assert not set(HELD_OUT_QUESTIONS) & set(questions)
    assert set(IDENTITY_QUESTIONS) <= set(questions)
    assert len(questions) == len(set(questions))  # no recorded answer shadows an identity one


def test_identity_answers_say_what_the_model_is():
    pairs = training_pairs([{"question": "Who are you?", "answer": "a detective"},
                            {"question": "What is a rainbow?", "answer": "light"}])
    assert ("What is a rainbow?", "light") in pairs
    assert all(q != "Who are you?" for q, _ in pairs)
    identity = [a for q, a in pairs if q in IDENTITY_QUESTIONS]
    assert identity and all("MoChat" in a for a in identity)

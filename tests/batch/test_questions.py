"""Questions files, work units and sharding (no model)."""

from __future__ import annotations

import json

import pytest

from mochat.batch import (
    QuestionSpec,
    open_archive,
    parse_shard,
    question_units,
    read_questions,
    shard_of,
    shard_units,
)
from mochat.errors import ConfigError, DataFormatError


def test_a_motion_s_shard_is_a_hash_of_its_id():
    # the first 8 bytes of sha256("S000001") mod 4: fixed, so a rerun finds its own work
    assert shard_of("S000001", 4) == 3
    assert shard_of("S000001", 1) == 0


@pytest.mark.parametrize("shards", [1, 3, 7])
def test_shards_cover_every_unit_once_whatever_the_order(shards):
    ids = [f"M{i:04d}" for i in range(200)]
    units = question_units(QuestionSpec(templates=("a?", "b?")), ids)
    parts = [shard_units(units, i, shards) for i in range(shards)]
    keys = [u.key for part in parts for _, u in part]
    assert sorted(keys) == sorted(u.key for u in units)  # every unit, exactly once
    # both questions of a motion share its shard; reversing the archive changes no shard
    for i, part in enumerate(parts):
        assert all(shard_of(u.motion_id, shards) == i for _, u in part)
    reverse = question_units(QuestionSpec(templates=("a?", "b?")), ids[::-1])
    assert {u.key for _, u in shard_units(reverse, 0, shards)} == {u.key for _, u in parts[0]}
    if shards == 7:  # a fair hash: no shard of 7 gets under half its share of 200 motions
        assert min(len(p) for p in parts) > 200 * 2 / 7 / 2


def test_parse_shard_names_the_expected_form():
    assert parse_shard("2/8") == (2, 8)
    for bad in ("8/8", "-1/2", "1", "a/b", "0/0"):
        with pytest.raises(ConfigError, match="--shard"):
            parse_shard(bad)


def test_yaml_questions_templates_tasks_and_one_motion_s_own(tmp_path):
    path = tmp_path / "q.yaml"
    path.write_text("questions:\n- What does the person do?\n- When does the person jump?\n"
                    "tasks: [captions, temporal]\n"
                    "S000002: Which hand waves?\n"
                    "motions: {S000003: ['Is it a kick?']}\n")
    spec = read_questions(path)
    assert spec.templates == ("What does the person do?", "When does the person jump?")
    assert spec.tasks == ("basic", "temporal")
    assert dict(spec.per_motion) == {"S000002": ("Which hand waves?",),
                                     "S000003": ("Is it a kick?",)}
    units = question_units(spec, ["S000002", "S000003"])
    # templates q0, q1 for each motion, then the motion's own m0
    assert [u.key for u in units] == ["S000002::q0", "S000002::q1", "S000002::m0",
                                      "S000003::q0", "S000003::q1", "S000003::m0"]


def test_jsonl_questions(tmp_path):
    path = tmp_path / "q.jsonl"
    rows = [{"question": "What does the person do?"},
            {"motion_id": "a", "questions": ["When?", "Where?"]}, {"tasks": ["spatial"]}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "\n")
    spec = read_questions(path)
    assert spec == QuestionSpec(("What does the person do?",), {"a": ("When?", "Where?")},
                                ("spatial_gap",))
    path.write_text('{"motion_id": "a"}\n{"question": 3}\n')
    with pytest.raises(DataFormatError, match=r"q\.jsonl:2"):
        read_questions(path)


def test_bad_questions_are_refused_with_what_is_allowed(tmp_path):
    path = tmp_path / "q.yaml"
    path.write_text("tasks: [captions, dance]\n")
    with pytest.raises(DataFormatError, match="unknown task 'dance'; expected one of"):
        read_questions(path)
    spec = QuestionSpec(per_motion={"nope": ("x?",)})
    with pytest.raises(DataFormatError, match="archive lacks: \\['nope'\\]"):
        question_units(spec, ["a"])


def test_a_folder_archive_names_motions_by_their_path(tmp_path):
    import numpy as np

    (tmp_path / "sub").mkdir()
    joints = np.zeros((4, 22, 3), dtype=np.float32)
    np.save(tmp_path / "sub" / "b.npy", joints)
    np.save(tmp_path / "a.npy", joints)
    (tmp_path / "notes.txt").write_text("not a motion")
    assert open_archive(tmp_path).ids() == ["a", "sub/b"]
    np.savez(tmp_path / "a.npz", joints=joints)
    with pytest.raises(DataFormatError, match="would both be motion 'a'"):
        open_archive(tmp_path)


def test_tasks_without_dialogues_ask_what_mochat_dialogues_would_write(corpus, dialogues):
    from mochat.batch.tasks import task_rows, task_units

    archive = open_archive(corpus, split="test")
    tasks = ("basic", "spatial_gap", "temporal")
    built = task_rows(archive, tasks, dialogues=None, split="test", per_task=5, seed=1)
    read = task_rows(archive, tasks, dialogues=dialogues, split="test", per_task=5, seed=1)
    assert built == read and len(built) == 15
    units = task_units(archive, read)
    # the evaluator's order: captions, gaps, temporal; each with its ground truth
    assert [u.task for u in units] == ["basic"] * 5 + ["spatial_gap"] * 5 + ["temporal"] * 5
    assert all(u.gold["refs"] for u in units[:5])
    assert all(u.gold["side"] in ("left", "right") for u in units[5:10])
    assert all(len(u.gold["span"]) == 2 for u in units[10:])

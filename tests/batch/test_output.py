"""Shard files after a kill, done markers and the merge's checks (no model)."""

from __future__ import annotations

import json

import pytest

from mochat.batch import ShardFile, check_settings, merge_shards
from mochat.errors import ConfigError, DataFormatError


def _rows(batch: int, indices: list[int]) -> list[dict]:
    return [{"index": i, "unit": f"m{i}::q0", "batch": batch, "batch_units": len(indices),
             "answer": f"answer {i}", "gold": None, "error": None} for i in indices]


def test_recover_keeps_whole_batches_only(tmp_path):
    shard = ShardFile(tmp_path, 0, 1)
    shard.append_batch(_rows(0, [0, 1]))
    shard.append_batch(_rows(1, [2, 3]))
    whole = shard.path.read_bytes()
    # a kill during batch 2's write: its first line landed, its second is torn
    torn = [json.dumps(r) for r in _rows(2, [4, 5])]
    with open(shard.path, "ab") as f:
        f.write((torn[0] + "\n" + torn[1][:10]).encode())
    rows = shard.recover()
    assert [r["index"] for r in rows] == [0, 1, 2, 3]  # batch 2 dropped, both lines
    assert shard.path.read_bytes() == whole  # and cut from the file
    assert shard.recover() == rows  # recovering again changes nothing


def test_merge_names_missing_and_incomplete_shards(tmp_path):
    check_settings(tmp_path, {"shards": 3, "bertscore": False})
    for index, rows in ((0, _rows(0, [0, 3])), (1, _rows(0, [1, 4]))):
        shard = ShardFile(tmp_path, index, 3)
        shard.append_batch(rows)
        shard.mark_done(rows, None)
    late = ShardFile(tmp_path, 2, 3)
    late.append_batch(_rows(0, [2]))  # written, never marked done
    with pytest.raises(DataFormatError) as err:
        merge_shards(tmp_path, 3)
    assert "1 of 3 shards" in str(err.value)
    assert "shard 2 (shard-2-of-3.jsonl): incomplete (no done marker" in str(err.value)
    late.path.unlink()
    with pytest.raises(DataFormatError, match=r"shard 2 \(shard-2-of-3.jsonl\): missing"):
        merge_shards(tmp_path, 3)
    late.append_batch(_rows(0, [2]))
    late.mark_done(_rows(0, [2]), None)
    with open(ShardFile(tmp_path, 1, 3).path, "a") as f:  # changed after its marker
        f.write(json.dumps(_rows(1, [5])[0]) + "\n")
    with pytest.raises(DataFormatError, match="shard 1 .*does not match its done marker"):
        merge_shards(tmp_path, 3)
    ShardFile(tmp_path, 1, 3).recover()  # still a whole batch: the marker is what is off
    shard = ShardFile(tmp_path, 1, 3)
    shard.mark_done(shard.recover(), None)
    report = merge_shards(tmp_path, 3)
    merged = [json.loads(line) for line in report.results.read_text().splitlines()]
    assert [r["index"] for r in merged] == [0, 1, 2, 3, 4, 5]  # the run's order, not shards'
    assert all("batch" not in r for r in merged)
    with pytest.raises(ConfigError, match="was run with 3 shards, not 2"):
        merge_shards(tmp_path, 2)


def test_a_run_with_other_settings_is_refused(tmp_path):
    check_settings(tmp_path, {"model_version": "sha256:aa", "batch_size": 8})
    check_settings(tmp_path, {"model_version": "sha256:aa", "batch_size": 8})  # same: fine
    with pytest.raises(ConfigError, match="other settings.*batch_size"):
        check_settings(tmp_path, {"model_version": "sha256:aa", "batch_size": 4})

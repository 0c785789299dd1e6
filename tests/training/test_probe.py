"""Linear probe on span-pooled features of the synthetic corpus."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mochat.cli import main
from mochat.errors import ConfigError
from mochat.skeleton import HumanML3DCorpus
from training.probe import encode_records, fit_logistic, probe, raw_featurize, span_dataset


def test_logistic_fits_separable_data() -> None:
    # Two well separated blobs: a linear classifier must get every point right.
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-3, 1, (20, 2)), rng.normal(3, 1, (20, 2))]).astype(np.float32)
    y = np.array([0] * 20 + [1] * 20)
    import torch

    clf = fit_logistic(x, y, 2)
    assert (clf(torch.from_numpy(x)).argmax(-1).numpy() == y).all()


def test_span_pooling_matches_spans(corpus: Path) -> None:
    records = [HumanML3DCorpus(corpus).load(i) for i in HumanML3DCorpus(corpus).ids("train")[:5]]
    x, labels = span_dataset(records, encode_records(records, raw_featurize, 512))
    assert len(labels) == sum(len(r.spans or []) for r in records)  # one row per span
    assert x.shape == (len(labels), 22 * 6)  # positions + velocities of 22 joints
    assert labels[0] == records[0].spans[0].action
    _, sided = span_dataset(records, encode_records(records, raw_featurize, 512), "action_side")
    assert sided[0] == f"{records[0].spans[0].action}/{records[0].spans[0].side}"
    _, sides = span_dataset(records, encode_records(records, raw_featurize, 512), "side")
    assert sides == [s.side for r in records for s in r.spans or [] if s.side in ("left", "right")]


def test_probe_raw_beats_majority_and_cli(corpus: Path, tmp_path: Path) -> None:
    raw, few = probe(corpus, "raw", "raw", train_fractions=(1.0, 0.25))
    assert raw.classes >= 5 and raw.test_spans > 0
    assert few.train_spans == round(0.25 * raw.train_spans)
    # Pooled joint positions and velocities separate the synthetic actions well.
    assert raw.test_acc > raw.majority_acc + 0.2
    out = tmp_path / "probe.json"
    assert main(["train", "probe", "--corpus", str(corpus), "--encoder", "rand=random:glte:tiny",
                 "--label", "action_side", "--out", str(out)]) == 0
    (row,) = json.loads(out.read_text())
    assert row["name"] == "rand" and row["label"] == "action_side"
    assert row["feature_dim"] == 32  # encoder_tiny feature width
    assert 0.0 <= row["test_acc"] <= 1.0


def test_probe_needs_spans(tmp_path: Path, corpus: Path) -> None:
    import shutil

    bare = tmp_path / "bare"
    shutil.copytree(corpus, bare)
    shutil.rmtree(bare / "spans")
    with pytest.raises(ConfigError, match="needs a corpus with spans"):
        probe(bare, "raw", "raw")

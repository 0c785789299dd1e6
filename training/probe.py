"""Linear probe: frozen per-frame features -> atomic action class (`mochat train probe`).

For every ground-truth action span of the synthetic corpus (spans/<id>.json), the
frozen features of the whole motion are mean-pooled over the span's frames; a
multinomial logistic regression is fitted on the train split's spans and scored on the
test split's. The features come from an encoder checkpoint, an untrained encoder
('random:KIND[:SIZE]', the floor pretraining must beat) or 'raw': the pooled normalised
joints and their velocities, which needs no encoder at all.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mochat.errors import ConfigError
from mochat.models import build_encoder, encoder_config, load_encoder
from mochat.models.encoder import SkeletonEncoder
from mochat.skeleton import SMPL22, HumanML3DCorpus, MotionRecord, normalize, pad_batch

Featurizer = Callable[[list[np.ndarray]], list[np.ndarray]]  # [(T, J, 3)] -> [(T, D)]
ENCODE_BATCH = 16


LABELS = ("action", "action_side", "side")


@dataclass(frozen=True)
class ProbeResult:
    name: str
    source: str
    # "action"; "action_side" (wave/left and wave/right are two classes); or "side": left
    # or right, on the spans that have one (what a left/right question asks)
    label: str
    train_fraction: float  # share of the training spans the classifier saw
    feature_dim: int
    classes: int
    train_spans: int
    test_spans: int
    train_acc: float
    test_acc: float
    majority_acc: float  # always predicting the most frequent training class


def encoder_featurizer(model: SkeletonEncoder) -> Featurizer:
    model = model.eval()

    def featurize(clips: list[np.ndarray]) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        for i in range(0, len(clips), ENCODE_BATCH):
            chunk = clips[i:i + ENCODE_BATCH]
            joints, mask = pad_batch(chunk)
            feats = model.encode(joints, mask).numpy()  # (B, T, D)
            out.extend(feats[b, :len(c)] for b, c in enumerate(chunk))
        return out
    return featurize


def raw_featurize(clips: list[np.ndarray]) -> list[np.ndarray]:
    """(T, J, 3) -> (T, 6J): normalised positions and per-frame velocities."""
    out = []
    for clip in clips:
        vel = np.diff(clip, axis=0, prepend=clip[:1])
        out.append(np.concatenate([clip, vel], axis=-1).reshape(len(clip), -1))
    return out


def resolve_source(source: str, seed: int) -> tuple[Featurizer, int]:
    """'raw' | 'random:KIND[:SIZE]' | checkpoint dir -> (featurizer, max_frames)."""
    if source == "raw":
        return raw_featurize, 10_000
    if source.startswith("random:"):
        parts = source.split(":")
        kind, size = parts[1], parts[2] if len(parts) > 2 else "small"
        torch.manual_seed(seed)
        model = build_encoder(kind, encoder_config(size), SMPL22)
    else:
        model = load_encoder(source)
    return encoder_featurizer(model), model.config.max_frames


def encode_records(records: list[MotionRecord], featurize: Featurizer, max_frames: int
                   ) -> list[np.ndarray]:
    """Per-frame features (T, D) of each whole motion, normalised as serving does."""
    clips = [normalize(r.joints[:max_frames], r.layout, max_frames=None) for r in records]
    return featurize(clips)


def span_dataset(records: list[MotionRecord], feats: list[np.ndarray], label: str = "action"
                 ) -> tuple[np.ndarray, list[str]]:
    """Mean-pooled features (S, D) and labels of every span of `records`."""
    rows, labels = [], []
    for record, feat in zip(records, feats, strict=True):
        for span in record.spans or []:
            end = min(span.end, len(feat) - 1)
            if span.start > end:
                continue
            if label == "side" and span.side not in ("left", "right"):
                continue
            rows.append(feat[span.start:end + 1].mean(axis=0))
            labels.append({"action": span.action, "side": span.side}.get(
                label, f"{span.action}/{span.side}"))
    if not rows:
        raise ConfigError("no action spans found: the probe needs a corpus with spans/")
    return np.stack(rows).astype(np.float32), labels


def fit_logistic(x: np.ndarray, y: np.ndarray, classes: int, *, weight_decay: float = 1e-3,
                 seed: int = 0) -> torch.nn.Linear:
    """Full-batch L-BFGS multinomial logistic regression on standardised features."""
    torch.manual_seed(seed)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    clf = torch.nn.Linear(x.shape[1], classes)
    opt = torch.optim.LBFGS(clf.parameters(), lr=1.0, max_iter=300, history_size=20,
                            line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(clf(xt), yt)
        loss = loss + weight_decay * clf.weight.square().sum()
        loss.backward()
        return loss

    opt.step(closure)
    return clf


def fit_and_score(x_train: np.ndarray, train_labels: list[str], x_test: np.ndarray,
                  test_labels: list[str], *, seed: int = 0) -> dict[str, Any]:
    """Standardise, fit the logistic probe on train, score on test (unseen classes dropped)."""
    vocab = sorted(set(train_labels))
    index = {a: i for i, a in enumerate(vocab)}
    keep = [i for i, a in enumerate(test_labels) if a in index]
    y_train = np.array([index[a] for a in train_labels])
    y_test = np.array([index[test_labels[i]] for i in keep])
    mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-6
    x_train, x_test = (x_train - mean) / std, (x_test[keep] - mean) / std
    clf = fit_logistic(x_train, y_train, len(vocab), seed=seed)
    with torch.no_grad():
        train_pred = clf(torch.from_numpy(x_train)).argmax(-1).numpy()
        test_pred = clf(torch.from_numpy(x_test)).argmax(-1).numpy()
    majority = np.bincount(y_train).argmax()
    return {"classes": len(vocab), "train_spans": len(y_train), "test_spans": len(y_test),
            "train_acc": float((train_pred == y_train).mean()),
            "test_acc": float((test_pred == y_test).mean()),
            "majority_acc": float((y_test == majority).mean())}


def probe(corpus_dir: str | Path, name: str, source: str, *, train_split: str = "train",
          test_split: str = "test", max_motions: int | None = None, seed: int = 0,
          labels: tuple[str, ...] = ("action",), train_fractions: tuple[float, ...] = (1.0,)
          ) -> list[ProbeResult]:
    """Encode both splits once, then fit one probe per (label, train fraction)."""
    corpus = HumanML3DCorpus(corpus_dir)
    featurize, max_frames = resolve_source(source, seed)
    train_records = [corpus.load(i) for i in corpus.ids(train_split)[:max_motions]]
    test_records = [corpus.load(i) for i in corpus.ids(test_split)[:max_motions]]
    train_feats = encode_records(train_records, featurize, max_frames)
    test_feats = encode_records(test_records, featurize, max_frames)
    results = []
    rng = np.random.default_rng(seed)
    for label in labels:
        x_train, y_train = span_dataset(train_records, train_feats, label)
        x_test, y_test = span_dataset(test_records, test_feats, label)
        for fraction in train_fractions:
            take = np.sort(rng.permutation(len(y_train))[:max(1, round(fraction * len(y_train)))])
            scores = fit_and_score(x_train[take], [y_train[i] for i in take], x_test, y_test,
                                   seed=seed)
            results.append(ProbeResult(name=name, source=source, label=label,
                                       train_fraction=fraction,
                                       feature_dim=int(x_train.shape[1]), **scores))
    return results


def markdown_table(results: list[ProbeResult]) -> str:
    lines = ["| features | source | label | train share | dim | classes | train spans "
             "| test spans | train acc | test acc | majority |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r.name} | `{r.source}` | {r.label} | {r.train_fraction:g} | "
                     f"{r.feature_dim} | {r.classes} | {r.train_spans} | {r.test_spans} | "
                     f"{r.train_acc:.3f} | {r.test_acc:.3f} | {r.majority_acc:.3f} |")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    results = []
    for item in args.encoder:
        name, sep, source = item.partition("=")
        if not sep:
            name, source = item, item
        results.extend(probe(args.corpus, name, source, train_split=args.train_split,
                             test_split=args.test_split, max_motions=args.max_motions,
                             seed=args.seed, labels=tuple(args.label or ["action"]),
                             train_fractions=tuple(args.train_fraction or [1.0])))
    print(markdown_table(results))  # noqa: T201
    if args.out:
        args.out.write_text(json.dumps([asdict(r) for r in results], indent=1) + "\n")
    return 0

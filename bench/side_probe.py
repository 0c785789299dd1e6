"""How well the frozen encoder features tell left from right, given each action's true span.

    python bench/side_probe.py models/mochat-smollm2-synth

For every left/right action of the synthetic corpus (spans/<id>.json), the encoder's
per-frame features of the whole motion are summarised over the action's frames as
[mean, last - first]; a linear and a one-hidden-layer (256, GELU) classifier are fitted on
the train split's actions (full batch, Adam, 1500 steps) and scored on the test split's,
overall and per action. This is the ceiling the LM's left/right answers can reach from
these features when the action is already found: compare `bench/lm_side_errors.py`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import torch
from torch import Tensor

from mochat.models import load_encoder
from mochat.skeleton import HumanML3DCorpus
from training.lm_data import encode_corpus

SIDES = ("left", "right")


def side_dataset(corpus: HumanML3DCorpus, features: dict[str, Tensor], ids: list[str]
                 ) -> tuple[Tensor, Tensor, list[str]]:
    """(N, 2D) span summaries, (N,) 1.0 for left, and each span's action name."""
    x, y, kinds = [], [], []
    for motion_id in ids:
        for span in corpus.load(motion_id).spans or []:
            if span.side not in SIDES:
                continue
            f = features[motion_id][span.start:span.end + 1]  # (T_span, D)
            x.append(torch.cat([f.mean(0), f[-1] - f[0]]))
            y.append(float(span.side == "left"))
            kinds.append(span.action)
    return torch.stack(x), torch.tensor(y), kinds


def fit(x: Tensor, y: Tensor, hidden: int, *, steps: int = 1500, seed: int = 0
        ) -> torch.nn.Module:
    torch.manual_seed(seed)
    net: torch.nn.Module = (torch.nn.Linear(x.shape[1], 1) if hidden == 0 else
                            torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden),
                                                torch.nn.GELU(), torch.nn.Linear(hidden, 1)))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-4)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(net(x)[:, 0], y).backward()
        opt.step()
    return net


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="an encoder or MoChat checkpoint directory")
    parser.add_argument("--corpus", default="data/synth")
    args = parser.parse_args(argv)
    corpus = HumanML3DCorpus(args.corpus)
    train_ids, test_ids = corpus.ids("train"), corpus.ids("test")
    features = encode_corpus(load_encoder(args.model), args.corpus, train_ids + test_ids,
                             progress=False)
    x, y, _ = side_dataset(corpus, features, train_ids)
    x_test, y_test, kinds = side_dataset(corpus, features, test_ids)
    mean, std = x.mean(0), x.std(0) + 1e-6
    x, x_test = (x - mean) / std, (x_test - mean) / std
    out: dict[str, object] = {"model": str(args.model), "train_actions": len(y),
                              "test_actions": len(y_test)}
    for name, hidden in (("linear", 0), ("mlp", 256)):
        net = fit(x, y, hidden)
        with torch.no_grad():
            right = ((net(x_test)[:, 0] > 0).float() == y_test).tolist()
            train_acc = ((net(x)[:, 0] > 0).float() == y).float().mean().item()
        hits, total = Counter(), Counter()
        for ok, kind in zip(right, kinds, strict=True):
            hits[kind] += ok
            total[kind] += 1
        out[name] = {"train_pct": round(100 * train_acc, 2),
                     "test_pct": round(100 * sum(right) / len(right), 2),
                     "by_action": {k: f"{hits[k]}/{total[k]}" for k in sorted(total)}}
    sys.stdout.write(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

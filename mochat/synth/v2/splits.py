"""Composition splits: test and val motions are made of action pairs training never has.

A motion's composition is its actions in order plus which ones run at the same time. Its
pairs are the consecutive ones (`walk>wave`: a walk, then a wave) and the concurrent ones
(`walk+wave`: waving while walking). Every possible pair is assigned to one split by a hash
of (corpus seed, pair): 15 % are test pairs, 5 % val pairs, the rest train pairs. Motions
are assigned to splits first (a seeded permutation, 80/5/15 of the ids as in v1); then a
train motion is planned from train pairs only, a test motion from train and test pairs
with at least one test pair, a val motion likewise with val pairs. So no test (or val)
composition occurs in training, and a test motion always holds an ordering or a
combination the model has not seen, though each of its actions (and often the same pair
in the other order) has been seen. Val and test motions have two actions at least.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

SPLITS = ("train", "val", "test")
HELD_OUT = {"test": 0.15, "val": 0.05}


def pair_key(first: str, second: str, *, concurrent: bool = False) -> str:
    return f"{first}{'+' if concurrent else '>'}{second}"


def pair_split(key: str, seed: int) -> str:
    """The split a pair belongs to: a hash of (seed, pair) read as a number in [0, 1)."""
    digest = hashlib.sha256(f"mochat-v2:{seed}:{key}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2.0 ** 64
    if u < HELD_OUT["test"]:
        return "test"
    if u < HELD_OUT["test"] + HELD_OUT["val"]:
        return "val"
    return "train"


def allowed(key: str, split: str, seed: int) -> bool:
    """May a motion of `split` contain this pair? Train: train pairs only; val/test: train
    pairs and their own held-out ones."""
    owner = pair_split(key, seed)
    return owner == "train" or owner == split


def assign_splits(motions: int, seed: int, fractions: tuple[float, float, float]
                  ) -> list[str]:
    """Each motion index's split: a seeded permutation cut 80/5/15 (rounded, as v1)."""
    order = np.random.default_rng(np.random.SeedSequence([seed, 2])).permutation(motions)
    n_train = int(round(fractions[0] * motions))
    n_val = int(round(fractions[1] * motions))
    out = ["test"] * motions
    for rank, index in enumerate(order):
        out[index] = "train" if rank < n_train else "val" if rank < n_train + n_val else "test"
    return out


def composition_pairs(sequence: Sequence[str], overlays: Sequence[tuple[int, str]]
                      ) -> list[str]:
    """The pair keys of a motion: consecutive base actions, and (base index, upper action)
    for each action running over a base action."""
    keys = [pair_key(a, b) for a, b in zip(sequence, sequence[1:], strict=False)]
    keys += [pair_key(sequence[i], upper, concurrent=True) for i, upper in overlays]
    return keys


def check(keys: Sequence[str], split: str, seed: int) -> bool:
    """Do these pairs make a valid motion of `split`?"""
    if not all(allowed(k, split, seed) for k in keys):
        return False
    return split == "train" or any(pair_split(k, seed) == split for k in keys)

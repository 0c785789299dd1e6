"""Corpus v2: plan -> assemble -> captions and spans -> HumanML3D layout.

`write_corpus_v2` assigns every motion id its split first (mochat.synth.v2.splits), then
plans, builds and writes each motion from its own seeded generator, so the same config
gives the same bytes and a motion does not depend on the others. Beside the HumanML3D
files it writes `composition_split.json`: how the split was made and the held-out pairs the
val and test motions use.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mochat.skeleton.corpus import ActionSpan, Caption, MotionRecord, write_record
from mochat.synth import body as b
from mochat.synth.v2 import language as L
from mochat.synth.v2 import splits as S
from mochat.synth.v2.adapters import pick_rendition, through_adapter
from mochat.synth.v2.assemble import Assembled, assemble
from mochat.synth.v2.captions import captions, span_phrase
from mochat.synth.v2.library import ACTIONS
from mochat.synth.v2.plan import Plan, plan_motion

if TYPE_CHECKING:
    from mochat.synth.generate import SynthConfig


@dataclass(frozen=True)
class Synthesized:
    record: MotionRecord
    plan: Plan
    body: Assembled  # world joints before capture noise, floor levels, airborne frames
    ankle_height: float


def _verb_forms() -> dict[str, str]:
    lemmas = L.verb_lemmas([p for a in ACTIONS.values() for p in a.phrases] +
                           ["^pause", "^stand", "^stay", "^stop", "^wait", "^rest", "^sit",
                            "^start", "^go"])
    return {form: lemma for lemma in lemmas
            for form in (lemma, L.third_person(lemma), L.gerund(lemma))}


_VERBS = _verb_forms()


def synthesize_v2(motion_id: str, rng: np.random.Generator, config: SynthConfig, *,
                  split: str = "train") -> Synthesized:
    """One v2 motion of `split` (its composition obeys that split's pairs)."""
    plan = plan_motion(rng, split, config.seed, min_actions=config.min_actions,
                       max_actions=config.max_actions)
    offsets = b.body_offsets(rng)
    body = assemble(plan, rng, offsets, noise_degrees=config.noise_degrees,
                    start_xz=rng.uniform(-1, 1, size=2), facing=float(rng.uniform(0, 2 * np.pi)))
    joints = body.joints
    if config.capture_noise_m > 0:  # marker jitter: bone lengths no longer exact
        joints = joints + rng.normal(0.0, config.capture_noise_m, size=joints.shape)
    spans = [ActionSpan(p.step.action, span_phrase(p.step, rng), p.step.spec.body_part,
                        p.step.side, p.start, p.end) for p in body.placed]
    texts = captions(plan, rng)
    caps = [Caption(t, L.tokens(t, _VERBS), 0.0, 0.0) for t in texts]
    record = MotionRecord(motion_id, joints.astype(np.float32), caps, spans)
    return Synthesized(record, plan, body, float(-offsets[10, 1]))


def synthesize_motion_v2(motion_id: str, rng: np.random.Generator, config: SynthConfig
                         ) -> MotionRecord:
    return synthesize_v2(motion_id, rng, config).record


def _seeds(config: SynthConfig) -> list[np.random.SeedSequence]:
    return np.random.SeedSequence([config.seed, 2, 1]).spawn(config.motions)


def write_corpus_v2(out: str | Path, config: SynthConfig, *, overwrite: bool = True,
                    progress: bool = False) -> list[str]:
    """Write `config.motions` v2 motions, split files and composition_split.json."""
    root = Path(out)
    for sub in ("new_joints", "texts", "spans"):
        if overwrite:
            shutil.rmtree(root / sub, ignore_errors=True)
        (root / sub).mkdir(parents=True, exist_ok=True)
    ids = [f"S{i:06d}" for i in range(config.motions)]
    split_of = S.assign_splits(config.motions, config.seed, config.split_fractions)
    seeds = _seeds(config)
    iterator = range(config.motions)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, desc="synth v2", unit="motion")
    used: dict[str, set[str]] = {"val": set(), "test": set()}
    adapted: dict[str, str] = {}
    for i in iterator:
        made = synthesize_v2(ids[i], np.random.default_rng(seeds[i]), config, split=split_of[i])
        record = made.record
        if split_of[i] == "train" and config.adapter_share > 0:
            # its own stream: the motion's other draws do not depend on the share
            rendition = pick_rendition(np.random.default_rng([config.seed, 2, 2, i]),
                                       config.adapter_share)
            if rendition is not None:
                record = replace(record, joints=through_adapter(record.joints, rendition))
                adapted[ids[i]] = rendition.name
        write_record(root, record)
        if split_of[i] in used:
            used[split_of[i]] |= {k for k in made.plan.pair_keys()
                                  if S.pair_split(k, config.seed) == split_of[i]}
    for split in S.SPLITS:
        (root / f"{split}.txt").write_text(
            "".join(f"{ids[i]}\n" for i in range(config.motions) if split_of[i] == split))
    info = {"version": 2, "seed": config.seed, "held_out_pair_fractions": S.HELD_OUT,
            "rule": S.__doc__.strip().splitlines()[0],
            "held_out_pairs_used": {k: sorted(v) for k, v in used.items()}}
    (root / "composition_split.json").write_text(json.dumps(info, indent=1) + "\n")
    if config.adapter_share > 0:  # which training motions came through which adapter
        (root / "adapters.json").write_text(json.dumps(
            {"adapter_share": config.adapter_share, "motions": adapted}, indent=1) + "\n")
    return ids

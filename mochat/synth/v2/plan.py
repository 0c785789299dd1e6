"""Plan one motion: which actions, in which order, with what parameters and pauses.

The plan is a sequence of base actions (whole-body, lower-body or upper-body ones), each
maybe carrying an upper-body action at the same time (waving while walking), separated by
idle gaps of random length (none, short, or a pause of a second or more) after a random
lead-in and before a random tail. Actions follow a posture state (standing, seated, lying:
only standing up follows sitting down, while seated only upper-body actions happen) and
the composition split (mochat.synth.v2.splits). Repetitions, tempo, amplitude, side and
extras are drawn per action; repetitions, then pauses, then trailing actions give way when
the motion would pass HumanML3D's 196 frames.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace

import numpy as np

from mochat.synth.v2 import splits as S
from mochat.synth.v2.library import ACTIONS, LIE, LOWER, REST_AFTER, SIT, STAND, UPPER, Action
from mochat.synth.v2.pose import REST_STYLES

MAX_FRAMES = 196
MIN_FRAMES = 40
OVERLAY_P = 0.8  # chance that a lower-body action carries an upper-body one
TOTAL_FRAMES = (140, MAX_FRAMES)  # a motion's length is drawn uniform in this range ...
ACTIVE_SHARE = (0.4, 0.85)  # ... the actions' share of it too; the rest is idle
ALPHA_ACTION, ALPHA_IDLE = 0.3, 0.35  # Dirichlet splits of the action and idle frames
MIN_ACTION_FRAMES = 15.0  # about the shortest the quick actions can be
COUNT_WEIGHTS = {1: 0.25, 2: 0.4, 3: 0.25, 4: 0.1}
_STYLE_WEIGHTS = {"arms_down": 0.4, "arms_relaxed": 0.3, "hands_on_hips": 0.08,
                  "hands_clasped": 0.08, "arms_crossed": 0.07, "hands_behind": 0.07}
# relative frequencies: walking and turning lead in real captions; the quick arm gestures
# that fit the many short slots are damped; standing up follows sitting down more often
_FREQUENT = {"walk": 3.0, "walk_backward": 1.5, "jog": 1.5, "run": 1.5, "turn": 2.0,
             "turn_around": 1.5, "wave": 1.5, "sit_down": 1.5, "jump_up": 1.5,
             "jump_forward": 1.5, "squat": 1.2, "stand_up": 8.0, "get_up": 3.0,
             "cross_arms": 0.5, "hands_on_hips": 0.5, "shrug": 0.6, "punch": 0.7,
             "kick": 0.7, "side_kick": 0.7, "spin": 0.5, "punch_combo": 0.7}


@dataclass(frozen=True)
class Step:
    action: str
    side: str
    reps: int
    tempo: float
    amplitude: float
    frames: int
    gap_before: int = 0  # idle frames before this step (0 for an overlay)
    rest_after: str = "arms_down"  # the arms' rest style when it ends standing
    extra: dict = field(default_factory=dict)
    overlay: Step | None = None  # an upper-body action during this one ...
    overlay_offset: int = 0  # ... starting this many frames into it

    @property
    def spec(self) -> Action:
        return ACTIONS[self.action]


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    lead: int
    tail: int
    rest_style: str  # the arms' rest style at the start
    split: str

    @property
    def frames(self) -> int:
        return self.lead + sum(s.gap_before + s.frames for s in self.steps) + self.tail

    def pair_keys(self) -> list[str]:
        names = [s.action for s in self.steps]
        overlays = [(i, s.overlay.action) for i, s in enumerate(self.steps) if s.overlay]
        return S.composition_pairs(names, overlays)


def _fits(action: Action, state: str) -> bool:
    if action.overlay_only:
        return False
    if state == SIT:
        return action.requires == SIT or action.layer == UPPER
    return action.requires == state


def _span_frames(name: str) -> tuple[int, int]:
    """The shortest and longest an action can be (repetitions x tempo ranges)."""
    a = ACTIONS[name]
    return a.frames(a.reps[0], a.tempo[1]), a.frames(a.reps[1], a.tempo[0])


def _lasts(name: str, target: float) -> bool:
    """Can the action last about `target` frames?"""
    lo, hi = _span_frames(name)
    return lo / 1.3 <= target <= hi * 1.3


@functools.cache
def _fit_shares() -> dict[str, float]:
    """The share of drawn action lengths each action can last (from 4,000 layouts drawn
    with a fixed seed): dividing by it keeps an action that fits few lengths (standing up)
    about as frequent as one that fits many (walking)."""
    rng = np.random.default_rng(20240601)
    counts = list(COUNT_WEIGHTS)
    p = np.array(list(COUNT_WEIGHTS.values()))
    targets = np.concatenate([_layout(rng, int(rng.choice(counts, p=p / p.sum()))).actions
                              for _ in range(4000)])
    out = {}
    for n in ACTIONS:
        lo, hi = _span_frames(n)
        out[n] = max(0.05, float(np.mean((targets >= lo / 1.3) & (targets <= hi * 1.3))))
    return out


def _choose(rng: np.random.Generator, names: list[str], target: float | None = None) -> str:
    """A frequency-weighted pick; with a target length, actions that can last about that
    long are 100 times likelier than those that cannot, and each is weighted by the
    inverse of how many lengths it fits (`_fit_shares`)."""
    weights = np.array([_FREQUENT.get(n, 1.0) for n in names])
    if target is not None:
        weights = weights * np.array([(1.0 if _lasts(n, target) else 0.01) / _fit_shares()[n]
                                      for n in names])
    return names[int(rng.choice(len(names), p=weights / weights.sum()))]


# upper-body actions that also move the head: two of them cannot run at once
HEAD_USERS = {"drink", "phone_call", "scratch_head", "look_at_watch", "salute", "look_around"}
_LR = {"left", "right"}


def _overlay_pool(name: str, split: str, seed: int) -> list[str]:
    """Upper-body actions that can run during `name`: any, over a lower-body action; one
    with the other arm, over a one-armed upper-body action (waving while on the phone)."""
    base = ACTIONS[name]
    if base.layer == LOWER:
        pool = [n for n, a in ACTIONS.items() if a.layer == UPPER]
    elif base.layer == UPPER and _LR <= set(base.sides) and not base.overlay_only:
        pool = [n for n, a in ACTIONS.items() if a.layer == UPPER and _LR <= set(a.sides)
                and n != name and not (name in HEAD_USERS and n in HEAD_USERS)]
    else:
        return []
    return [n for n in pool if S.allowed(S.pair_key(name, n, concurrent=True), split, seed)]


def _sequence(rng: np.random.Generator, targets: list[float], split: str, seed: int
              ) -> tuple[list[str], dict[int, str]] | None:
    """Action names in order and overlays {base index: upper action}, or None."""
    count = len(targets)
    forced = int(rng.integers(0, count)) if split != "train" else -1  # the held-out pair
    names: list[str] = []
    overlays: dict[int, str] = {}
    state = STAND
    for i in range(count):
        pool = [n for n, a in ACTIONS.items() if _fits(a, state) and (not names or n != names[-1])]
        if names:
            keys = {n: S.pair_key(names[-1], n) for n in pool}
            pool = [n for n in pool if S.allowed(keys[n], split, seed)]
            if i == forced and forced > 0:
                pool = [n for n in pool if S.pair_split(keys[n], seed) == split]
        if not pool:
            return None
        name = _choose(rng, pool, targets[i])
        names.append(name)
        state = ACTIONS[name].leads_to
        uppers = _overlay_pool(name, split, seed)
        if uppers and (rng.random() < OVERLAY_P or i == forced == 0):
            if i == forced == 0:
                uppers = [n for n in uppers
                          if S.pair_split(S.pair_key(name, n, concurrent=True), seed) == split]
            if uppers:
                overlays[i] = _choose(rng, uppers)
    return names, overlays


def _params(rng: np.random.Generator, name: str, tempo_bias: float, *,
            sides: tuple[str, ...] | None = None, **kw: object) -> Step:
    spec = ACTIONS[name]
    lo, hi = spec.reps  # log-uniform: one wave as likely as two, two as likely as four
    reps = int(np.clip(round(np.exp(rng.uniform(np.log(lo - 0.45), np.log(hi + 0.49)))), lo, hi))
    tempo = float(np.clip(rng.uniform(*spec.tempo) * tempo_bias, *spec.tempo))
    amplitude = float(np.clip(rng.normal(1.0, 0.12), 0.75, 1.3))
    extra = spec.extras(rng) if spec.extras else {}
    side = str(rng.choice(sides or spec.sides))
    return Step(name, side, reps, tempo, amplitude, spec.frames(reps, tempo), extra=extra,
                **kw)  # type: ignore[arg-type]


def _match(step: Step, frames: float) -> Step:
    """The repetitions and tempo (within the action's ranges) that come closest to
    `frames`: repetitions first, the tempo takes up the rest."""
    spec = step.spec
    seconds = frames / 20.0
    reps = step.reps
    if spec.cycle_s > 0 and spec.reps[1] > spec.reps[0]:
        reps = int(np.clip(round((seconds * step.tempo - spec.lead_s) / spec.cycle_s),
                           spec.reps[0], spec.reps[1]))
    tempo = float(np.clip(spec.seconds(reps, 1.0) / max(seconds, 1e-3), *spec.tempo))
    return replace(step, reps=reps, tempo=tempo, frames=spec.frames(reps, tempo))


@dataclass(frozen=True)
class Layout:
    actions: list[float]  # target frames per action
    lead: int
    gaps: list[int]  # idle frames before actions 2..n
    tail: int


def _layout(rng: np.random.Generator, count: int) -> Layout:
    """Where the frames go, drawn before the actions are chosen: a total length, the
    actions' share of it split among them by a Dirichlet draw (lengths 0.75-8 s, unequal
    more often than not), the idle rest split among the lead-in, the pauses and the tail.
    Neither the actions' lengths nor their places follow from their count and order."""
    total = rng.uniform(*TOTAL_FRAMES)
    active = total * rng.uniform(*ACTIVE_SHARE)
    actions = np.maximum(MIN_ACTION_FRAMES, active * rng.dirichlet([ALPHA_ACTION] * count))
    idle = np.floor(max(0.0, total - actions.sum()) *
                    rng.dirichlet([ALPHA_IDLE] * (count + 1))).astype(int)
    return Layout(list(actions), int(idle[0]), [int(g) for g in idle[1:-1]], int(idle[-1]))


def _with_reps(step: Step, reps: int) -> Step:
    return replace(step, reps=reps, frames=step.spec.frames(reps, step.tempo))


def _fit(plan: Plan) -> Plan | None:
    """Keep a plan within MAX_FRAMES by leaving out trailing actions; None when even the
    first one does not fit. Nothing is shortened, so the drawn lengths keep their spread
    (shortening the long actions would even them out again)."""
    steps = list(plan.steps)
    while plan.frames > MAX_FRAMES and len(steps) > 1:
        steps.pop()
        plan = replace(plan, steps=tuple(steps))
    if plan.frames > MAX_FRAMES:
        return None
    if plan.frames < MIN_FRAMES:
        plan = replace(plan, tail=plan.tail + MIN_FRAMES - plan.frames)
    return plan


def _overlay(rng: np.random.Generator, base: Step, name: str, tempo_bias: float
             ) -> tuple[Step | None, int]:
    other = {"left": ("right",), "right": ("left",)}.get(base.side)
    if base.spec.layer == UPPER and other is None:
        return None, 0
    over = _params(rng, name, tempo_bias, sides=other if base.spec.layer == UPPER else None)
    over = _match(over, base.frames * rng.uniform(0.25, 0.85))
    while over.frames > base.frames - 8 and over.reps > over.spec.reps[0]:
        over = _with_reps(over, over.reps - 1)
    if over.frames > base.frames - 8:
        return None, 0
    return over, int(rng.integers(3, base.frames - over.frames - 4))


def plan_motion(rng: np.random.Generator, split: str, seed: int, *, min_actions: int = 1,
                max_actions: int = 4) -> Plan:
    """A valid plan for a motion of `split` (train / val / test)."""
    low = max(min_actions, 1 if split == "train" else 2)
    high = max(low, max_actions)
    counts = np.arange(low, high + 1)
    weights = np.array([COUNT_WEIGHTS.get(int(c), 0.1) for c in counts])
    for _ in range(200):
        count = int(rng.choice(counts, p=weights / weights.sum()))
        layout = _layout(rng, count)
        found = _sequence(rng, layout.actions, split, seed)
        if found is None:
            continue
        plan = _build(rng, *found, layout, split)
        if plan is not None and S.check(plan.pair_keys(), split, seed):
            return plan
    raise RuntimeError(f"no valid {split} plan in 200 tries (seed {seed})")


def _build(rng: np.random.Generator, names: list[str], overlays: dict[int, str],
           layout: Layout, split: str) -> Plan | None:
    tempo_bias = float(rng.uniform(0.9, 1.1))  # this performer's overall pace
    style = str(rng.choice(list(_STYLE_WEIGHTS), p=list(_STYLE_WEIGHTS.values())))
    current, steps = style, []
    for i, name in enumerate(names):
        rest = REST_AFTER.get(name) or (current if rng.random() < 0.75 else
                                        str(rng.choice(list(REST_STYLES))))
        one_arm = ("left", "right") if i in overlays and ACTIONS[name].layer == UPPER else None
        step = _params(rng, name, tempo_bias, rest_after=rest, sides=one_arm,
                       gap_before=layout.gaps[i - 1] if i else 0)
        steps.append(_match(step, layout.actions[i]))
        current = rest
    lead, tail = layout.lead, layout.tail
    for i, over_name in overlays.items():
        over, offset = _overlay(rng, steps[i], over_name, tempo_bias)
        if over is not None:
            steps[i] = replace(steps[i], overlay=replace(over, rest_after=steps[i].rest_after),
                               overlay_offset=offset)
    plan = Plan(tuple(steps), lead, tail, style, split)
    return _fit(plan)


__all__ = ["LIE", "MAX_FRAMES", "SIT", "Plan", "Step", "plan_motion"]

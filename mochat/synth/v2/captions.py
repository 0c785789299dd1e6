"""Three captions per motion that differ in structure, not only in synonyms.

Each caption draws its own subject (with a matching pronoun: he, she or they), its own
detail level (one terse caption without counts or adverbs, one normal, one detailed), its
own phrasing of every action (the three captions take different templates where an action
has enough), and its own sentence structure among those that fit the composition:

  "S F1, then F2 and then F3."     "S first F1, then F2, and finally F3."
  "S F2 after G1, then F3."        "S starts by G1, then F2."     "S F1 before G2."
  "S is G1." (one action)
(F: finite verb phrase, G: gerund). Concurrent actions become one clause in several ways
("walks forward while waving", "waves while walking", "walks and waves at the same time",
"waves as he walks"). Long pauses may be told ("pauses", "stands still for a moment"), and
so may a long stillness after the last action.

The dialogue builders (mochat.dialogue.builders) find the subject at the start of a
caption and split it into clauses at commas, 'and', 'then', 'while', 'before'; each
fragment gets the subject in front. So every caption opens with its subject, and a gerund
stands after a split word only when it names no body part ("waves while walking", never
"walks while waving his hand", which would yield "A man waving his hand."). Side words are
always the body's "left" / "right", so mirroring a caption stays true.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mochat.dialogue.templates import BODY_PART_KEYWORDS
from mochat.synth.v2 import language as L
from mochat.synth.v2.plan import Plan, Step

_PART_WORDS = {w for words in BODY_PART_KEYWORDS.values() for w in words if " " not in w}


def names_part(text: str) -> bool:
    """Does a phrase name a body part the spatial dialogue builder looks for? A gerund
    that does must not stand alone after a word the builder splits at ('while',
    'before'): it would become an answer like 'A man waving his left hand.'"""
    return bool(_PART_WORDS & set(L.re.findall(r"[a-z]+", text.lower())))

PAUSE_FRAMES = 20  # a gap this long (1 s) may be told as a pause
STILL_FRAMES = 30


@dataclass(frozen=True)
class Voice:
    subject: str
    pron: str  # he / she / they
    poss: str
    obj: str
    form: str  # the verb form after the pronoun: 3sg or base


_MALE = ("a man", "the man", "a guy", "a boy")
_FEMALE = ("a woman", "the woman", "a lady", "a girl")
_NEUTRAL = ("a person", "the person", "someone", "somebody", "a figure", "a human",
            "an individual", "this person", "a character", "the subject")
_PRONOUNS = {"he": ("he", "his", "himself", "3sg"), "she": ("she", "her", "herself", "3sg"),
             "they": ("they", "their", "themselves", "base")}


def voice(rng: np.random.Generator) -> Voice:
    u = rng.random()
    if u < 0.3:
        subject, pron = str(rng.choice(_MALE)), "he"
    elif u < 0.5:
        subject, pron = str(rng.choice(_FEMALE)), "she"
    else:
        subject = str(rng.choice(_NEUTRAL))
        pron = str(rng.choice(["they", "he", "she"], p=[0.5, 0.3, 0.2]))
    return Voice(subject, *_PRONOUNS[pron])


@dataclass(frozen=True)
class Event:
    step: Step | None  # None: a pause
    over: Step | None = None
    seated: bool = False


def events(plan: Plan, rng: np.random.Generator, detail: int) -> list[Event]:
    out: list[Event] = []
    seated = False
    for step in plan.steps:
        if out and step.gap_before >= PAUSE_FRAMES and detail > 0 and rng.random() < 0.6:
            out.append(Event(None, seated=seated))
        out.append(Event(step, step.overlay))
        seated = (seated or step.action == "sit_down") and step.action != "stand_up"
    return out


class Phraser:
    """Picks each action's template per caption: different ones across the captions."""

    def __init__(self, plan: Plan, rng: np.random.Generator) -> None:
        self.rng = rng
        self.order: dict[int, list[int]] = {}
        for step in plan.steps:
            for s in (step, step.overlay):
                if s is not None:
                    self.order[id(s)] = list(rng.permutation(len(s.spec.phrases)))

    def __call__(self, step: Step, caption: int, form: str, v: Voice, detail: int) -> str:
        order = self.order[id(step)]
        template = step.spec.phrases[order[caption % len(order)]]
        extra = {k: val for k, val in step.extra.items() if isinstance(val, str)}
        return L.realize(template, form=form, side=step.side, reps=step.reps,
                         tempo=step.tempo, poss=v.poss, obj=v.obj, detail=detail,
                         rng=self.rng, extra=extra)


def _pause(ev: Event, form: str, rng: np.random.Generator) -> str:
    options = (["^sit still for a moment", "^rest for a moment"] if ev.seated else
               ["^pause", "^stand still for a moment", "^wait briefly", "^pause for a second"])
    return L.realize(str(rng.choice(options)), form=form, side="none", reps=1, tempo=1.0,
                     poss="", obj="", detail=1, rng=rng)


def clause(ev: Event, form: str, caption: int, v: Voice, detail: int, ph: Phraser,
           rng: np.random.Generator) -> str:
    """One event as a finite ('3sg' / 'base') or gerund ('ger') clause."""
    if ev.step is None:
        return _pause(ev, form, rng)
    main = ph(ev.step, caption, form, v, detail)
    if ev.over is None:
        return main
    if form == "ger":  # inside "after ..." / "starts by ...": "as" is not a split word
        return f"{ph(ev.over, caption, 'ger', v, detail)} as {v.pron} " \
               f"{ph(ev.step, caption, v.form, v, detail)}"
    over_ger = ph(ev.over, caption, "ger", v, detail)
    base_ger = ph(ev.step, caption, "ger", v, detail)
    patterns = [2, 3]  # "... and ... at the same time", "... as he ...": never split badly
    patterns += [0, 4] if not names_part(over_ger) else []
    patterns += [1] if not names_part(base_ger) else []
    pattern = int(rng.choice(patterns))
    if pattern == 0:
        return f"{main} while {over_ger}"
    if pattern == 1:
        return f"{ph(ev.over, caption, form, v, detail)} while {base_ger}"
    if pattern == 2:
        return f"{main} and {ph(ev.over, caption, form, v, detail)} at the same time"
    if pattern == 3:
        return f"{ph(ev.over, caption, form, v, detail)} as {v.pron} " \
               f"{ph(ev.step, caption, v.form, v, detail)}"
    return f"{main}, {over_ger} as {v.pron} {'goes' if v.form == '3sg' else 'go'}"


def _join(parts: Sequence[str], rng: np.random.Generator, *, finally_: bool = False) -> str:
    text = parts[0]
    for k, part in enumerate(parts[1:], start=1):
        last = k == len(parts) - 1
        if last and finally_:
            joiner = ", and finally "
        elif last:
            joiner = str(rng.choice([", then ", " and then ", ", and then ", ", after that ",
                                     " and "] if k > 1 else [", then ", " and then ",
                                                             ", after that ", " and "]))
        else:
            joiner = str(rng.choice([", then ", ", ", " then "]))
        text += joiner + part
    return text


STRUCTURES_ONE = ("simple", "progressive", "simple")
STRUCTURES_MANY = ("then", "first_finally", "after", "starts_by", "before", "then")


def _structures(n: int, rng: np.random.Generator) -> list[str]:
    if n == 1:
        return list(rng.permutation(STRUCTURES_ONE))
    picked = list(rng.choice(len(STRUCTURES_MANY), size=3, replace=False))
    return [STRUCTURES_MANY[i] for i in picked]


def caption(plan: Plan, caption_index: int, structure: str, detail: int, ph: Phraser,
            rng: np.random.Generator) -> str:
    v = voice(rng)
    evs = events(plan, rng, detail)
    fin = [clause(e, "3sg", caption_index, v, detail, ph, rng) for e in evs]
    ger = [clause(e, "ger", caption_index, v, detail, ph, rng) for e in evs]
    s = v.subject
    # every caption opens with its subject (the builders find it there); a gerund clause
    # follows "after" (not a split point for them) or, without a body part, "before"
    if structure == "before" and (len(evs) != 2 or names_part(ger[1])):
        structure = "then"
    if len(evs) == 1:
        plain = structure != "progressive" or evs[0].over is not None
        text = f"{s} {fin[0]}" if plain else f"{s} is {ger[0]}"
    elif structure == "then":
        text = f"{s} {_join(fin, rng)}"
    elif structure == "first_finally":
        text = f"{s} first {_join(fin, rng, finally_=len(fin) > 2)}"
    elif structure == "after":  # "S F2 after G1[, then F3 ...]": the order told backwards
        text = f"{s} {_join([f'{fin[1]} after {ger[0]}', *fin[2:]], rng)}"
    elif structure == "starts_by":
        text = f"{s} starts by {ger[0]}, then {_join(fin[1:], rng)}"
    else:  # before
        text = f"{s} {fin[0]} before {ger[1]}"
    if plan.tail >= STILL_FRAMES and detail > 0 and rng.random() < 0.35:
        text += str(rng.choice([" and then stands still", ", then stays still", " and stops"]))
    return " ".join(text.split()) + "."


def captions(plan: Plan, rng: np.random.Generator) -> list[str]:
    ph = Phraser(plan, rng)
    n = len(events(plan, np.random.default_rng(0), 0))
    details = [int(d) for d in rng.permutation(3)]
    return [caption(plan, k, st, details[k], ph, rng)
            for k, st in enumerate(_structures(n, rng))]


def span_phrase(step: Step, rng: np.random.Generator) -> str:
    """The phrase of one action's ground-truth span ('a person' + phrase reads well)."""
    template = str(rng.choice(step.spec.phrases))
    extra = {k: val for k, val in step.extra.items() if isinstance(val, str)}
    return L.realize(template, form="3sg", side=step.side, reps=step.reps, tempo=step.tempo,
                     poss="their", obj="themselves", detail=2, rng=rng, extra=extra)

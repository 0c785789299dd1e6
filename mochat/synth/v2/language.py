"""Phrase templates -> English: verb inflection, slots, counts, adverbs, POS tokens.

A template is one verb phrase whose verbs carry a `^` ("^wave {hand} {times}",
"^squat down and ^stand back up"). `realize` fills the slots and inflects every marked
verb as a finite third-person verb ("waves") or a gerund ("waving"), so the same phrasing
serves "a man waves ..." and "after waving ..., he ...". Slots:

  {hand} {arm} {foot} {leg} {knee} {hip} {ear} the limb on the action's side: "the left hand",
      "his right hand", "both hands"; {side} the side word; {other} the other side's word
  {times} how often ("three times", "twice"), {n:squat} a count of a noun ("four squats")
  {speed} an adverb of tempo ("slowly", "quickly") where the tempo is far from typical
  {poss} the subject's possessive, {obj} "himself" / "herself" / "themselves"
and action-specific slots from the action's extras. At detail 0 counts and adverbs are left
out; at 2 vague counts ("a few times") give way to exact ones.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

NUMBERS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
           "ten", "eleven", "twelve")
_IRREGULAR_3SG = {"do": "does", "go": "goes", "have": "has", "be": "is"}
_IRREGULAR_GERUND = {"lie": "lying", "tiptoe": "tiptoeing", "see": "seeing", "be": "being",
                     "dye": "dyeing", "canoe": "canoeing"}
# one-syllable verbs ending consonant-vowel-consonant double it: jog -> jogging
_DOUBLE = {"jog", "hop", "skip", "step", "run", "sit", "get", "put", "swim", "clap", "drop",
           "stop", "shrug", "grab", "tap", "hug", "nod", "pat", "dip", "flip", "spin",
           "trot", "swat", "bob", "jab", "plan", "drag", "chop", "pop", "rub", "tug", "hit",
           "set", "cut", "let", "bat", "shut", "wrap", "slip", "trip", "nap"}
LIMBS = ("hand", "arm", "foot", "leg", "knee", "hip", "ear", "fist", "heel", "elbow",
         "shoulder", "wrist", "palm")
_PLURAL = {"foot": "feet"}


def third_person(verb: str) -> str:
    if verb in _IRREGULAR_3SG:
        return _IRREGULAR_3SG[verb]
    if verb.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    if verb.endswith("y") and verb[-2:-1] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def gerund(verb: str) -> str:
    if verb in _IRREGULAR_GERUND:
        return _IRREGULAR_GERUND[verb]
    if verb in _DOUBLE:
        return verb + verb[-1] + "ing"
    if verb.endswith("ie"):
        return verb[:-2] + "ying"
    if verb.endswith("e") and not verb.endswith(("ee", "ye", "oe")):
        return verb[:-1] + "ing"
    return verb + "ing"


def inflect(verb: str, form: str) -> str:
    if form == "3sg":
        return third_person(verb)
    if form == "ger":
        return gerund(verb)
    if form == "base":
        return verb
    raise ValueError(f"unknown verb form {form!r}; expected '3sg', 'ger' or 'base'")


def plural(noun: str) -> str:
    head, _, last = noun.rpartition(" ")
    word = _PLURAL.get(last) or (last + "es" if last.endswith(("sh", "ch", "s", "x")) else
                                 last + "s")
    return f"{head} {word}".strip()


def times_phrase(reps: int, rng: np.random.Generator, detail: int) -> str:
    """How often: exact for 1-10 at detail 2, sometimes vague for 3+ at detail 1."""
    if detail == 0:
        return ""
    if reps >= 3 and detail == 1 and rng.random() < 0.45:
        return str(rng.choice(["a few times", "several times", "repeatedly"] if reps <= 5
                              else ["several times", "repeatedly", "many times"]))
    return {1: "once", 2: "twice"}.get(reps, f"{NUMBERS[min(reps, 12)]} times")


def count_noun(noun: str, reps: int, rng: np.random.Generator, detail: int) -> str:
    """'a squat', 'four squats', 'several squats', or 'squats' at detail 0."""
    if reps == 1:
        vowel = noun[0] in "aeiou" and not noun.startswith(("one", "uni"))
        return f"{'an' if vowel else 'a'} {noun}"
    if detail == 0:
        return f"some {plural(noun)}"
    if reps >= 3 and detail == 1 and rng.random() < 0.4:
        return f"{rng.choice(['a few', 'several'] if reps <= 5 else ['several', 'many'])} " \
               f"{plural(noun)}"
    return f"{NUMBERS[min(reps, 12)]} {plural(noun)}"


def speed_word(tempo: float, rng: np.random.Generator, detail: int) -> str:
    if detail == 0:
        return ""
    if tempo < 0.85:
        return str(rng.choice(["slowly", "slowly", "at a slow pace", "gently", "leisurely"]))
    if tempo > 1.2:
        return str(rng.choice(["quickly", "quickly", "fast", "rapidly", "briskly"]))
    return ""


def limb(word: str, side: str, poss: str, rng: np.random.Generator) -> str:
    if side == "both":
        return str(rng.choice([f"both {plural(word)}", f"{poss} {plural(word)}"]))
    if side in ("left", "right"):
        return f"{rng.choice(['the', poss, poss])} {side} {word}"
    return f"{poss} {word}"


_SLOT = re.compile(r"\{([a-z_]+)(?::([a-z -]+))?\}")


def realize(template: str, *, form: str, side: str, reps: int, tempo: float, poss: str,
            obj: str, detail: int, rng: np.random.Generator,
            extra: Mapping[str, str] | None = None) -> str:
    """Fill a phrase template's slots and inflect its `^` verbs (see the module doc)."""
    extra = extra or {}
    other = {"left": "right", "right": "left"}.get(side, side)

    def slot(match: re.Match[str]) -> str:
        name, arg = match.group(1), match.group(2)
        if name == "n":
            return count_noun(arg or "time", reps, rng, detail)
        if name in LIMBS:
            return limb(name, side, poss, rng)
        if name.startswith("other_") and name[6:] in LIMBS:
            return limb(name[6:], other, poss, rng)
        values = {"side": side, "other": other, "poss": poss, "obj": obj,
                  "times": times_phrase(reps, rng, detail) if reps > 1 or detail == 2 else "",
                  "speed": speed_word(tempo, rng, detail)}
        if name in values:
            return values[name]
        if name in extra:
            return extra[name]
        raise ValueError(f"template {template!r}: unknown slot {{{name}}}")

    for name, value in extra.items():  # extras may hold slots of their own
        template = template.replace(f"{{{name}}}", value)
    text = _SLOT.sub(slot, template)
    text = re.sub(r"\^([a-z]+)", lambda m: inflect(m.group(1), form), text)
    return re.sub(r"\s+", " ", text).strip().replace(" ,", ",")


def verb_lemmas(templates: list[str]) -> set[str]:
    return {m.group(1) for t in templates for m in re.finditer(r"\^([a-z]+)", t)}


_POS = {"a": "DET", "an": "DET", "the": "DET", "his": "DET", "her": "DET", "their": "DET",
        "both": "DET", "each": "DET", "this": "DET", "that": "DET", "some": "DET",
        "with": "ADP", "to": "ADP", "in": "ADP", "into": "ADP", "on": "ADP", "onto": "ADP",
        "from": "ADP", "at": "ADP", "of": "ADP", "over": "ADP", "behind": "ADP",
        "toward": "ADP", "towards": "ADP", "across": "ADP", "around": "ADV", "after": "ADP",
        "before": "ADP", "while": "SCONJ", "as": "SCONJ", "and": "CCONJ", "but": "CCONJ",
        "then": "ADV", "forward": "ADV", "backward": "ADV", "backwards": "ADV", "up": "ADP",
        "down": "ADP", "back": "ADV", "again": "ADV", "once": "ADV", "twice": "ADV",
        "left": "ADJ", "right": "ADJ", "he": "PRON", "she": "PRON", "someone": "PRON",
        "himself": "PRON", "herself": "PRON", "themselves": "PRON", "it": "PRON",
        "first": "ADV", "finally": "ADV", "afterwards": "ADV", "later": "ADV"}


def tokens(text: str, verbs: Mapping[str, str]) -> str:
    """HumanML3D's 'word/POS' string; `verbs` maps inflected verb forms to their lemma."""
    out = []
    for word in re.sub(r"[.,;]", " ", text.lower()).split():
        if word in verbs:
            out.append(f"{verbs[word]}/VERB")
        elif word.endswith("ly") and len(word) > 4:
            out.append(f"{word}/ADV")
        elif word in NUMBERS:
            out.append(f"{word}/NUM")
        else:
            out.append(f"{word}/{_POS.get(word, 'NOUN')}")
    return " ".join(out)

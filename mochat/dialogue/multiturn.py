"""Sessions and presence questions: the multiturn, absent and present sets.

A session asks 2-4 questions about one whole motion in a random order, each after the
earlier turns: a caption, a left/right gap, a "when" (present or absent action) and a
yes/no question (present or absent). Two "when" questions of one session name different
actions, so an answer must follow its question, not the answer before it. Rows carry
`"spans"`, one entry per assistant turn ([s, e] for a present "when", else null), and
`"span"`, the last turn's entry (what a single forward trains the head on, as for every
other row).

An action is absent when the motion holds no span of it on that side, nor of an action
that looks like it (CONFUSABLE: a jump forward is a jump, a spin a turn...). Absent actions
come from the corpus's action vocabulary (`action_vocabulary`: (action, side) -> phrases of
the spans of every split), so only action names the corpus knows are asked about. Their
answer is tpl.NOT_IN_MOTION, with no span. Randomness comes from an rng seeded per motion.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from mochat.dialogue import templates as tpl
from mochat.dialogue.builders import Dialogue, GapItem, new_dialogue
from mochat.skeleton.corpus import ActionSpan

Vocabulary = Mapping[tuple[str, str], tuple[str, ...]]  # (action, side) -> phrases
# Actions that one can be taken for another: none of a group is asked about as absent
# while another is there (any side). Idle is never absent: every motion stands a while.
CONFUSABLE: tuple[frozenset[str], ...] = (
    frozenset({"jump", "jump_forward"}), frozenset({"turn", "spin"}),
    frozenset({"wave", "raise_arm"}), frozenset({"punch", "throw"}),
    frozenset({"walk_forward", "run"}),
)
NEVER_ABSENT = frozenset({"idle"})
_IRREGULAR = {"does": "do", "goes": "go", "has": "have", "is": "be"}
SESSION_TURNS = (2, 3, 4)
# How often each kind of question is drawn for a turn of a session.
KIND_WEIGHTS = {"caption": 1.0, "gap": 2.0, "when": 2.0, "when_absent": 0.75, "yes": 1.0,
                "yes_absent": 0.75}


@dataclass(frozen=True)
class Turn:
    kind: str  # a KIND_WEIGHTS key
    question: str
    answer: str
    span: tuple[int, int] | None = None


def _base_verb(word: str) -> str:
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if word.endswith(("ches", "shes", "sses", "xes", "zes")):
        return word[:-2]
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    return word[:-1] if word.endswith("s") and not word.endswith("ss") else word


def base_form(phrase: str) -> str:
    """'kicks with the left foot' -> 'kick with the left foot'; 'squats down and stands
    back up' -> 'squat down and stand back up': the verbs a phrase opens with or joins with
    'and' in the base form, for "Did the person ...?"."""
    words = phrase.split()
    return " ".join(_base_verb(w) if k == 0 or words[k - 1] == "and" else w
                    for k, w in enumerate(words))


def action_vocabulary(spans: Iterable[ActionSpan]) -> dict[tuple[str, str], tuple[str, ...]]:
    """(action, side) -> its distinct phrases, sorted, from ground-truth spans."""
    found: dict[tuple[str, str], set[str]] = {}
    for s in spans:
        found.setdefault((s.action, s.side), set()).add(s.phrase)
    return {key: tuple(sorted(found[key])) for key in sorted(found)}


def is_absent(action: str, side: str, present: Sequence[ActionSpan]) -> bool:
    """No span of `action` on `side` (nor on both sides, nor 'both' asked of one side),
    and none of an action confusable with it; idle is never absent."""
    if action in NEVER_ABSENT:
        return False
    group = next((g for g in CONFUSABLE if action in g), frozenset())
    for s in present:
        if s.action != action and s.action in group:
            return False
        if s.action == action and (s.side == side or "both" in (s.side, side)):
            return False
    return True


def absent_actions(present: Sequence[ActionSpan], vocabulary: Vocabulary
                   ) -> list[tuple[str, str]]:
    """The (action, side) pairs of the vocabulary that are absent from a motion, sorted."""
    return [key for key in sorted(vocabulary) if is_absent(*key, present)]


def _unique(spans: Sequence[ActionSpan]) -> list[ActionSpan]:
    """Spans whose (action, side) occurs once in the motion: a "when" about one has one
    answer."""
    keys = [(s.action, s.side) for s in spans]
    return [s for s, k in zip(spans, keys, strict=True) if keys.count(k) == 1]


def _when(phrase: str, rng: random.Random) -> str:
    """A "when" question about a phrase: a paper template or a short follow-up form."""
    if rng.random() < 0.5:
        return rng.choice(tpl.TEMPORAL_INSTRUCTIONS).format(motion=f"a person {phrase}")
    return rng.choice(tpl.FOLLOWUP_TEMPORAL_INSTRUCTIONS).format(action=base_form(phrase))


def _yes_no(phrase: str, rng: random.Random) -> str:
    return rng.choice(tpl.PRESENCE_INSTRUCTIONS).format(action=base_form(phrase), motion=phrase)


def when_turn(span: ActionSpan, rng: random.Random) -> Turn:
    return Turn("when", _when(span.phrase, rng),
                tpl.TEMPORAL_ANSWER.format(start=span.start, end=span.end),
                (span.start, span.end))


def yes_turn(span: ActionSpan, rng: random.Random) -> Turn:
    return Turn("yes", _yes_no(span.phrase, rng), tpl.PRESENCE_ANSWER.format(motion=span.phrase))


def absent_turn(kind: str, phrase: str, rng: random.Random) -> Turn:
    """kind 'when_absent' or 'yes_absent': the question about a phrase of an absent action."""
    question = _when(phrase, rng) if kind == "when_absent" else _yes_no(phrase, rng)
    return Turn(kind, question, tpl.NOT_IN_MOTION)


def candidate_turns(captions: Sequence[str], gaps: Sequence[GapItem],
                    spans: Sequence[ActionSpan], vocabulary: Vocabulary,
                    rng: random.Random) -> dict[str, list[Turn]]:
    """Every question a session about one whole motion may ask, by kind (shuffled)."""
    absent = absent_actions(spans, vocabulary)
    pool = {
        "caption": [Turn("caption", rng.choice(tpl.BASIC_INSTRUCTIONS), c) for c in captions],
        "gap": [Turn("gap", g.question, g.answer.capitalize() + ".") for g in gaps],
        "when": [when_turn(s, rng) for s in _unique(spans)],
        "yes": [yes_turn(s, rng) for s in spans],
        "when_absent": [absent_turn("when_absent", rng.choice(vocabulary[k]), rng)
                        for k in absent],
        "yes_absent": [absent_turn("yes_absent", rng.choice(vocabulary[k]), rng)
                       for k in absent],
    }
    for turns in pool.values():
        rng.shuffle(turns)
    return pool


def session_turns(pool: Mapping[str, list[Turn]], rng: random.Random) -> list[Turn]:
    """2-4 turns of a session: the first a caption half the time, the others drawn by
    KIND_WEIGHTS among the kinds with questions left; no question twice, one caption at
    most, and never one kind only (a session of gaps is no session). [] when the pool
    cannot make two turns of two kinds."""
    left = {kind: list(turns) for kind, turns in pool.items() if turns}
    wanted = rng.choice(SESSION_TURNS)
    turns: list[Turn] = []
    if "caption" in left and rng.random() < 0.5:
        turns.append(left.pop("caption")[0])
    while len(turns) < wanted and left:
        kinds = sorted(left)
        kind = rng.choices(kinds, weights=[KIND_WEIGHTS[k] for k in kinds])[0]
        turns.append(left[kind].pop())
        if kind == "caption" or not left[kind]:
            del left[kind]
    if len(turns) < 2 or len({t.kind for t in turns}) < 2:
        return []
    return turns


def standalone(question: str) -> str:
    """A question as a first one: 'And when does ...?' -> 'When does ...?'."""
    return question[4].upper() + question[5:] if question.startswith("And ") else question


def session_dialogue(motion_id: str, index: int, turns: Sequence[Turn]) -> Dialogue:
    pairs = [(standalone(t.question) if k == 0 else t.question, t.answer)
             for k, t in enumerate(turns)]
    row = new_dialogue("multiturn", motion_id, index, pairs)
    spans = [None if t.span is None else list(t.span) for t in turns]
    row["span"], row["spans"] = spans[-1], spans
    return row


def multiturn_dialogues(motion_id: str, captions: Sequence[str], gaps: Sequence[GapItem],
                        spans: Sequence[ActionSpan], vocabulary: Vocabulary,
                        rng: random.Random, *, sessions: int = 2) -> list[Dialogue]:
    """Up to `sessions` sessions about one whole motion (its whole-motion captions and gap
    candidates, its ground-truth spans)."""
    out: list[Dialogue] = []
    for _ in range(sessions):
        turns = session_turns(candidate_turns(captions, gaps, spans, vocabulary, rng), rng)
        if turns:
            out.append(session_dialogue(motion_id, len(out), turns))
    return out


def presence_dialogues(motion_id: str, spans: Sequence[ActionSpan], vocabulary: Vocabulary,
                       rng: random.Random) -> dict[str, list[Dialogue]]:
    """Single questions: 'absent' (one "when" and one yes/no about absent actions, answer
    NOT_IN_MOTION, no span) and 'present' (one yes/no and one short "when" about actions
    the motion holds, the latter with its span)."""
    absent = absent_actions(spans, vocabulary)
    out: dict[str, list[Dialogue]] = {"absent": [], "present": []}
    if absent:
        for kind in ("when_absent", "yes_absent"):
            phrase = rng.choice(vocabulary[rng.choice(absent)])
            turn = absent_turn(kind, phrase, rng)
            out["absent"].append(new_dialogue("absent", motion_id, len(out["absent"]),
                                              [(standalone(turn.question), turn.answer)]))
    if spans:
        yes = yes_turn(rng.choice(list(spans)), rng)
        out["present"].append(new_dialogue("present", motion_id, 0, [(yes.question, yes.answer)]))
    if unique := _unique(spans):
        span = rng.choice(unique)
        question = standalone(rng.choice(tpl.FOLLOWUP_TEMPORAL_INSTRUCTIONS).format(
            action=base_form(span.phrase)))
        answer = tpl.TEMPORAL_ANSWER.format(start=span.start, end=span.end)
        out["present"].append(new_dialogue("present", motion_id, len(out["present"]),
                                           [(question, answer)], (span.start, span.end)))
    return out

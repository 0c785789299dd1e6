"""What `mochat batch` asks: a questions file, the work units it makes, and sharding.

A questions file is YAML (one mapping) or JSONL (one object a line):

    questions:                             # asked about every motion
      - What does the person do?
      - When does the person jump?
    tasks: [captions, spatial, temporal]   # the paper's three tasks, as the evaluator asks
    S000001: ["Which hand waves?"]         # one motion's own questions (also under motions:)

    {"question": "What does the person do?"}             # JSONL: for every motion
    {"motion_id": "S000001", "questions": ["Which hand waves?"]}
    {"tasks": ["temporal"]}

A work unit is one (motion, question). Units are sharded by a hash of the motion id, so
every question about a motion lands in the same shard whatever the archive's order and
size, and each motion is read and encoded once per shard.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mochat.errors import ConfigError, DataFormatError

# the paper's task -> the dialogue task the evaluator scores it on (training/lm_eval.py)
TASKS = {"captions": "basic", "spatial": "spatial_gap", "temporal": "temporal"}
_RESERVED = ("questions", "question", "tasks", "motions")


@dataclass(frozen=True)
class QuestionSpec:
    templates: tuple[str, ...] = ()  # asked about every motion
    per_motion: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    tasks: tuple[str, ...] = ()  # dialogue task names: basic, spatial_gap, temporal

    def digest(self) -> str:
        """Changes whenever what is asked changes (resume refuses a different spec)."""
        payload = json.dumps([self.templates, sorted(self.per_motion.items()), self.tasks])
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def merged(self, other: QuestionSpec) -> QuestionSpec:
        per_motion = dict(self.per_motion)
        for motion_id, questions in other.per_motion.items():
            per_motion[motion_id] = (*per_motion.get(motion_id, ()), *questions)
        tasks = tuple(dict.fromkeys((*self.tasks, *other.tasks)))
        return QuestionSpec((*self.templates, *other.templates), per_motion, tasks)


@dataclass(frozen=True)
class WorkUnit:
    """One question about one motion; `frames` limits it to a segment (own frames,
    inclusive); `gold` is the ground truth it is scored against, if any."""

    motion_id: str
    question_id: str
    question: str
    task: str | None = None
    frames: tuple[int, int] | None = None
    gold: dict[str, Any] | None = None

    @property
    def key(self) -> str:
        return f"{self.motion_id}::{self.question_id}"


def parse_tasks(values: Any, *, source: str) -> tuple[str, ...]:
    """['captions', 'temporal'] -> ('basic', 'temporal'); dialogue task names pass too."""
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list):
        raise DataFormatError(f"{source}: tasks must be a list, got {values!r}")
    out = []
    for value in values:
        name = TASKS.get(str(value), str(value))
        if name not in TASKS.values():
            raise DataFormatError(f"{source}: unknown task {value!r}; expected one of "
                                  f"{sorted(TASKS)} (or {sorted(TASKS.values())})")
        out.append(name)
    return tuple(dict.fromkeys(out))


def _texts(value: Any, *, source: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(q, str) and q.strip() for q in items):
        raise DataFormatError(f"{source}: expected a question or a list of questions, "
                              f"got {value!r}")
    return tuple(q.strip() for q in items)


def _from_mapping(data: Mapping[str, Any], *, source: str) -> QuestionSpec:
    templates: tuple[str, ...] = ()
    for key in ("questions", "question"):
        if key in data:
            templates += _texts(data[key], source=f"{source}: {key}")
    tasks = parse_tasks(data["tasks"], source=source) if "tasks" in data else ()
    per_motion = {str(k): _texts(v, source=f"{source}: {k}")
                  for k, v in data.items() if k not in _RESERVED}
    motions = data.get("motions") or {}
    if not isinstance(motions, Mapping):
        raise DataFormatError(f"{source}: motions must map motion ids to questions")
    spec = QuestionSpec(templates, per_motion, tasks)
    return spec.merged(QuestionSpec(per_motion={str(k): _texts(v, source=f"{source}: {k}")
                                                for k, v in motions.items()}))


def read_questions(path: str | Path) -> QuestionSpec:
    """A YAML or JSONL questions file (see the module docstring); errors name file:line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise DataFormatError(f"{path}: cannot read the questions file: {err}") from err
    if path.suffix.lower() == ".jsonl":
        spec = QuestionSpec()
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataFormatError(f"{path}:{n}: not JSON: {err}") from err
            if not isinstance(row, dict):
                raise DataFormatError(f"{path}:{n}: expected an object, got {row!r}")
            spec = spec.merged(_jsonl_row(row, source=f"{path}:{n}"))
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise DataFormatError(f"{path}: not YAML: {err}") from err
        if not isinstance(data, Mapping):
            raise DataFormatError(f"{path}: expected a mapping (questions:, tasks:, or "
                                  "motion ids)")
        spec = _from_mapping(data, source=str(path))
    if not (spec.templates or spec.per_motion or spec.tasks):
        raise DataFormatError(f"{path}: asks nothing (no questions, tasks or motions)")
    return spec


def _jsonl_row(row: dict[str, Any], *, source: str) -> QuestionSpec:
    unknown = set(row) - {"motion_id", "question", "questions", "tasks"}
    if unknown:
        raise DataFormatError(f"{source}: unknown keys {sorted(unknown)}; expected motion_id, "
                              "question(s), tasks")
    texts: tuple[str, ...] = ()
    for key in ("question", "questions"):
        if key in row:
            texts += _texts(row[key], source=source)
    tasks = parse_tasks(row["tasks"], source=source) if "tasks" in row else ()
    if "motion_id" in row:
        return QuestionSpec(per_motion={str(row["motion_id"]): texts}, tasks=tasks)
    return QuestionSpec(templates=texts, tasks=tasks)


def question_units(spec: QuestionSpec, motion_ids: Sequence[str]) -> list[WorkUnit]:
    """Templates (`q<i>`) and then the motion's own questions (`m<i>`), motion by motion."""
    unknown = sorted(set(spec.per_motion) - set(motion_ids))
    if unknown:
        raise DataFormatError(f"the questions file names motions the archive lacks: "
                              f"{unknown[:10]}{' ...' if len(unknown) > 10 else ''}")
    units = []
    for motion_id in motion_ids:
        units += [WorkUnit(motion_id, f"q{i}", q) for i, q in enumerate(spec.templates)]
        units += [WorkUnit(motion_id, f"m{i}", q)
                  for i, q in enumerate(spec.per_motion.get(motion_id, ()))]
    return units


# -- sharding --------------------------------------------------------------------------------
def shard_of(motion_id: str, shards: int) -> int:
    """The shard a motion belongs to: a hash of its id, not its position in the archive."""
    digest = hashlib.sha256(motion_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % shards


def parse_shard(text: str) -> tuple[int, int]:
    """'2/8' -> (2, 8): shard index I (0-based, as a Kubernetes indexed Job's
    JOB_COMPLETION_INDEX) of N."""
    try:
        index, shards = (int(v) for v in text.split("/"))
    except ValueError:
        raise ConfigError(f"--shard {text!r}: expected I/N, e.g. 0/4") from None
    if shards < 1 or not 0 <= index < shards:
        raise ConfigError(f"--shard {text!r}: expected 0 <= I < N and N >= 1")
    return index, shards


def shard_units(units: Sequence[WorkUnit], index: int, shards: int
                ) -> list[tuple[int, WorkUnit]]:
    """(position in the whole run, unit) of the units in shard `index` of `shards`."""
    counts = Counter(u.key for u in units)
    if len(counts) != len(units):
        dupes = sorted(k for k, n in counts.items() if n > 1)[:5]
        raise DataFormatError(f"work units asked twice: {dupes}")
    return [(i, u) for i, u in enumerate(units) if shard_of(u.motion_id, shards) == index]

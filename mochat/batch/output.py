"""`mochat batch` output: shard files that survive a kill, done markers, and the merge.

`DIR/shard-I-of-N.jsonl` holds one JSON line per answered (motion, question). A batch's
lines are appended with one write and fsync'd before the next batch starts, and each line
names its batch and the batch's size, so after a kill the file is cut back to its last
whole batch: a torn last line, and any earlier lines of a batch that did not finish, are
dropped (`ShardFile.recover`). The rerun skips every unit whose line survived and asks the
rest in the same order, hence in the same batches as an uninterrupted run.

When a shard has answered all its units it writes `DIR/shard-I-of-N.done` (line count and
SHA-256 of the shard file) and, when its rows carry ground truth, `DIR/metrics-shard-I.json`.
`merge_shards` checks every shard's marker against its file, writes `DIR/results.jsonl`
(rows in the whole run's order, as one unsharded run would write them) and `DIR/metrics.json`
(recomputed over all rows), and names every missing or incomplete shard when it refuses.
`DIR/run.json` records the run's settings; a shard started with other settings is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mochat.errors import ConfigError, DataFormatError

RUN_FILE = "run.json"
RESULTS_FILE = "results.jsonl"
METRICS_FILE = "metrics.json"
SHARD_FIELDS = ("batch", "batch_units")  # bookkeeping of one shard, left out of the merge


def shard_stem(index: int, shards: int) -> str:
    return f"shard-{index}-of-{shards}"


def write_atomic(path: Path, text: str) -> None:
    """Write a whole file or leave the old one: temp file, fsync, rename, fsync the dir."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_settings(out_dir: Path, settings: dict[str, Any]) -> None:
    """Record the run's settings in DIR/run.json, or refuse ones that differ from it."""
    path = out_dir / RUN_FILE
    if path.exists():
        saved = json.loads(path.read_text())
        changed = sorted(k for k in {*saved, *settings} if saved.get(k) != settings.get(k))
        if changed:
            was = {k: saved.get(k) for k in changed}
            now = {k: settings.get(k) for k in changed}
            raise ConfigError(f"{out_dir} holds a run with other settings: {was} there, "
                              f"{now} now; use another --out")
        return
    write_atomic(path, json.dumps(settings, indent=1, sort_keys=True) + "\n")


def read_settings(out_dir: Path) -> dict[str, Any]:
    path = out_dir / RUN_FILE
    if not path.exists():
        raise DataFormatError(f"{out_dir}: no {RUN_FILE}; not a `mochat batch` output folder")
    return dict(json.loads(path.read_text()))


class ShardFile:
    """One shard's output file, its done marker and its metrics."""

    def __init__(self, out_dir: Path, index: int, shards: int) -> None:
        self.index, self.shards = index, shards
        stem = shard_stem(index, shards)
        self.path = out_dir / f"{stem}.jsonl"
        self.done_path = out_dir / f"{stem}.done"
        self.metrics_path = out_dir / f"metrics-shard-{index}.json"

    def recover(self) -> list[dict[str, Any]]:
        """The rows of whole batches; the file is cut back to them (and fsync'd)."""
        if not self.path.exists():
            return []
        data = self.path.read_bytes()
        rows: list[dict[str, Any]] = []
        ends: list[int] = []  # byte offset after each kept row
        pos = 0
        while (newline := data.find(b"\n", pos)) != -1:
            try:
                row = json.loads(data[pos:newline])
            except (json.JSONDecodeError, UnicodeDecodeError):
                break  # a torn write: it and everything after it are dropped
            rows.append(row)
            ends.append(newline + 1)
            pos = newline + 1
        # the last batch counts only when all of its lines are there
        if rows:
            last = rows[-1]["batch"]
            tail = sum(1 for r in rows if r["batch"] == last)
            if tail != rows[-1]["batch_units"]:
                del rows[-tail:], ends[-tail:]
        keep = ends[-1] if ends else 0
        if keep != len(data):
            with open(self.path, "r+b") as f:
                f.truncate(keep)
                f.flush()
                os.fsync(f.fileno())
        return rows

    def append_batch(self, rows: list[dict[str, Any]]) -> None:
        """Append one batch's rows in one write and fsync them."""
        payload = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
        created = not self.path.exists()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            _fsync_dir(self.path.parent)

    def clear_done(self) -> None:
        self.done_path.unlink(missing_ok=True)

    def mark_done(self, rows: list[dict[str, Any]], metrics: dict[str, Any] | None) -> dict:
        if metrics is not None:
            write_atomic(self.metrics_path, json.dumps(metrics, indent=1) + "\n")
        if not self.path.exists():  # a shard that got no motions still leaves its file
            self.path.touch()
        marker = {"shard": self.index, "shards": self.shards, "units": len(rows),
                  "errors": sum(1 for r in rows if r.get("error")),
                  "sha256": file_sha256(self.path)}
        write_atomic(self.done_path, json.dumps(marker, indent=1) + "\n")
        return marker

    def problem(self) -> str | None:
        """Why this shard cannot be merged, or None when it is complete."""
        if not self.done_path.exists():
            return ("missing" if not self.path.exists()
                    else "incomplete (no done marker: still running, or killed; rerun it)")
        if not self.path.exists():
            return f"incomplete ({self.done_path.name} without {self.path.name})"
        marker = json.loads(self.done_path.read_text())
        if marker.get("sha256") != file_sha256(self.path):
            return f"incomplete ({self.path.name} does not match its done marker)"
        return None


@dataclass
class MergeReport:
    results: Path
    rows: int
    errors: int
    metrics: dict[str, Any] | None


def merge_shards(out_dir: str | Path, shards: int, *, bertscore: bool | None = None
                 ) -> MergeReport:
    """All N shards' rows -> DIR/results.jsonl (+ DIR/metrics.json); refuses, naming them,
    when any shard is missing or incomplete."""
    from mochat.batch.scores import task_metrics

    out = Path(out_dir)
    settings = read_settings(out)
    if settings.get("shards") != shards:
        raise ConfigError(f"{out} was run with {settings.get('shards')} shards, not {shards}")
    files = [ShardFile(out, i, shards) for i in range(shards)]
    problems = [(f, p) for f in files if (p := f.problem()) is not None]
    if problems:
        raise DataFormatError(f"cannot merge {out}: {len(problems)} of {shards} shards not "
                              "complete: " + "; ".join(f"shard {f.index} ({f.path.name}): {p}"
                                                       for f, p in problems))
    rows = [r for f in files for r in f.recover()]
    rows.sort(key=lambda r: r["index"])
    for r in rows:
        for name in SHARD_FIELDS:
            r.pop(name, None)
    results = out / RESULTS_FILE
    write_atomic(results, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    use_bertscore = settings.get("bertscore", True) if bertscore is None else bertscore
    metrics = task_metrics(rows, bertscore=use_bertscore)
    if metrics is not None:
        write_atomic(out / METRICS_FILE, json.dumps(metrics, indent=1) + "\n")
    return MergeReport(results, len(rows), sum(1 for r in rows if r.get("error")), metrics)

"""Helpers for tests that run a service as a subprocess with JSON logs on stdout."""

from __future__ import annotations

import json
import subprocess
import time


def wait_for_event(proc: subprocess.Popen[str], event: str, timeout_s: float = 30,
                   seen: list[dict] | None = None) -> dict:
    """Read JSON log lines (kept in `seen` when given) until one has `event`."""
    deadline = time.monotonic() + timeout_s
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"process exited (rc={proc.poll()}) before {event!r}")
        record = json.loads(line)
        if seen is not None:
            seen.append(record)
        if record["event"] == event:
            return record
    raise AssertionError(f"no {event!r} log line within {timeout_s} s")

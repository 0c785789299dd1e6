"""The demo's child processes: each started in its own process group, each stopped by PID.

Every child gets a new session (`start_new_session`), so a Ctrl-C in the terminal reaches
the demo alone, which then stops the children in reverse order of start: SIGTERM to each
child's process group (the group id is the child's PID), a grace period, SIGKILL for any
that is still there and for what is left of its group. The PIDs are written to
`pids.json` as they start, so a supervisor (or a test) can check that none is left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Child:
    name: str
    popen: subprocess.Popen[bytes] | None  # None: a process started by someone else
    pid: int

    def running(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return pid_alive(self.pid)


def pid_alive(pid: int) -> bool:
    """Whether `pid` names a live process (a zombie, exited but not reaped, is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc: the signal check is all there is
    return state != "Z"


class Children:
    """The processes of one run, stopped together by `stop_all` (idempotent)."""

    def __init__(self, pids_file: Path) -> None:
        self.pids_file = pids_file
        self.children: list[Child] = []

    def start(self, name: str, argv: Sequence[str], *, log_path: Path,
              env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Child:
        """Start `argv` in a new session, stdout and stderr to `log_path`."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            popen = subprocess.Popen(list(argv), stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=dict(env or os.environ),
                                     cwd=cwd, start_new_session=True)
        return self.adopt(name, popen.pid, popen)

    def adopt(self, name: str, pid: int, popen: subprocess.Popen[bytes] | None = None
              ) -> Child:
        """Track a process started elsewhere (the broker) so that it is listed and checked."""
        child = Child(name, popen, pid)
        self.children.append(child)
        self._write()
        return child

    def _write(self) -> None:
        self.pids_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.pids_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({c.name: c.pid for c in self.children}, indent=1) + "\n")
        tmp.replace(self.pids_file)

    def check(self) -> None:
        """Raise RuntimeError naming a child that exited on its own (a crashed service)."""
        for child in self.children:
            if child.popen is not None and child.popen.poll() is not None \
                    and child.name != "export":
                raise RuntimeError(f"{child.name} (pid {child.pid}) exited with code "
                                   f"{child.popen.returncode}")

    def stop_all(self, grace_s: float = 10.0, *, last: tuple[str, ...] = ("broker",)
                 ) -> list[str]:
        """SIGTERM every child, wait up to `grace_s` for them together, SIGKILL the rest;
        the children named in `last` (the broker the others talk to) go after the others.
        Returns the names of those that had to be killed."""
        killed = []
        for tier in ([c for c in self.children if c.name not in last],
                     [c for c in self.children if c.name in last]):
            live = [c for c in reversed(tier) if c.running()]
            for child in live:
                self._signal(child, signal.SIGTERM)
            deadline = time.monotonic() + grace_s
            for child in live:
                if not self._wait(child, max(0.0, deadline - time.monotonic())):
                    killed.append(child.name)
        return killed

    @staticmethod
    def _signal(child: Child, sig: signal.Signals) -> None:
        try:
            if child.popen is not None:  # our own: its group is its PID
                os.killpg(child.pid, sig)
            else:
                os.kill(child.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def _wait(self, child: Child, timeout_s: float) -> bool:
        """Wait for `child` to exit; SIGKILL it after `timeout_s`. True if it exited.

        Then SIGKILL what is left of its group: a grandchild that ignored SIGTERM outlives
        its parent, and would be an orphan. Linux does not reuse a PID while a group of that
        id has members, so the group id still names this child's group."""
        deadline = time.monotonic() + timeout_s
        while child.running() and time.monotonic() < deadline:
            time.sleep(0.05)
        exited = not child.running()
        if child.popen is not None or not exited:  # an adopted PID, once gone, may be reused
            self._signal(child, signal.SIGKILL)
        if child.popen is not None:
            child.popen.wait()
        return exited

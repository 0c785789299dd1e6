"""Which offset of a partition is safe to commit: pure bookkeeping, no Kafka.

A record's offset may be committed once nothing will ever need the record again: its frame is
in no window still open (the windower holds it), in no window closed but not yet acknowledged
downstream, and in no dead-letter record not yet acknowledged. So the safe commit is

    min(next offset to read, lowest offset the windower holds, lowest offset in flight)

and a restart from it replays every frame of every window that was not yet delivered. Windows
ids are deterministic, so the replay re-creates them under the same ids (at-least-once).
"""

from __future__ import annotations

from collections import Counter

from ingest.windowing import Windower, WindowingConfig


class PartitionState:
    """Window state and offset bookkeeping of one assigned partition."""

    def __init__(self, config: WindowingConfig) -> None:
        self.windower = Windower(config)
        self.next_offset: int | None = None  # last consumed offset + 1
        self.committed: int | None = None
        self.revoked = False  # set when the partition moved away: its results are moot
        self._in_flight: Counter[int] = Counter()
        self._reported: Counter[str] = Counter()  # windower counters already exported

    def new_events(self) -> dict[str, int]:
        """Windower counter increments since the last call (for Prometheus)."""
        fresh = {k: v - self._reported[k] for k, v in self.windower.counters.items()
                 if v != self._reported[k]}
        self._reported.update(fresh)
        return fresh

    def consumed(self, offset: int) -> None:
        self.next_offset = offset + 1

    def hold(self, offset: int) -> None:
        """A closed window / dead letter whose lowest source offset is `offset` is in flight."""
        if offset >= 0:
            self._in_flight[offset] += 1

    def release(self, offset: int) -> None:
        """It was acknowledged downstream (or given up for good)."""
        if offset >= 0:
            self._in_flight[offset] -= 1
            if self._in_flight[offset] <= 0:
                del self._in_flight[offset]

    @property
    def in_flight(self) -> int:
        return sum(self._in_flight.values())

    def safe_offset(self) -> int | None:
        """The offset to commit now (the next record a restart would read), None if none."""
        if self.next_offset is None:
            return None
        candidates = [self.next_offset]
        held = self.windower.min_needed_offset()
        if held is not None:
            candidates.append(held)
        if self._in_flight:
            candidates.append(min(self._in_flight))
        return min(candidates)

    def commit_due(self) -> int | None:
        """safe_offset() when it moved past the last commit, else None."""
        safe = self.safe_offset()
        if safe is None or (self.committed is not None and safe <= self.committed):
            return None
        return safe

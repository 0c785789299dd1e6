"""Service-time estimates for admission: will a question be answered before its deadline?

The worker measures every batch it decodes: the time to its first token (prefill) and the
time per decode step after it. Exponentially weighted moving averages of both, and of the
share of its generation limit a batch actually decodes (answers stop on their own well
before the limit), estimate what a batch with a given limit costs:

    batch_s(max_new_tokens) = prefill_s + step_s * max_new_tokens * used_share

A question waits for the running batch's remainder and for the batches of the questions
ahead of it (in the queue's order, `max_batch` to a batch), then for its own batch. Until
the first batch is measured nothing is known and every question is admitted. A moving
average of how far batches ran from their estimate (`spread_s`) makes `sure_batch_s`, the
bar a question must clear when its batch starts: one started too close to its deadline
would most likely be stopped mid-decode, its share of the batch wasted.

Under continuous batching a "batch" is one question: the worker observes each answer (its
prefill, and its steps, which run beside the other rows), and a queued question waits for
a row to come free rather than for a whole batch (`row_ends_s`).
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass


@dataclass
class ServiceTimes:
    alpha: float = 0.2  # weight of the newest measurement
    prefill_s: float | None = None  # a batch's prompt pass, to its first token
    step_s: float | None = None  # one decode step of a batch
    used_share: float | None = None  # decoded steps / generation limit; None: 1
    spread_s: float = 0.0  # mean |measured - estimated| seconds of a batch
    busy_until_s: float = 0.0  # monotonic: when the running batch is expected to end
    # The continuous scheduler's running rows: when each is expected to end (monotonic);
    # None under static batches.
    row_ends_s: list[float] | None = None

    @property
    def known(self) -> bool:
        return self.step_s is not None

    def _mix(self, old: float | None, new: float) -> float:
        return new if old is None else (1 - self.alpha) * old + self.alpha * new

    def observe(self, *, first_token_s: float, total_s: float, steps: int,
                max_new_tokens: int, cut_short: bool = False) -> None:
        """One decoded batch: `steps` decode steps (its longest answer) in `total_s`, the
        first token after `first_token_s`. A batch `cut_short` (a question in it was
        stopped) says nothing about how long answers are: its share is not counted."""
        steps = max(steps, 1)
        if self.known and not cut_short:
            miss = abs(total_s - self.batch_s(max_new_tokens))
            self.spread_s = (1 - self.alpha) * self.spread_s + self.alpha * miss
        prefill = min(first_token_s, total_s)
        self.prefill_s = self._mix(self.prefill_s, prefill)
        self.step_s = self._mix(self.step_s, max(total_s - prefill, 0.0) / steps)
        if not cut_short:
            self.used_share = self._mix(self.used_share,
                                        min(steps / max(max_new_tokens, 1), 1.0))

    def batch_s(self, max_new_tokens: int) -> float:
        """Expected seconds of one batch decoding up to `max_new_tokens`; 0 when unknown."""
        if self.prefill_s is None or self.step_s is None:
            return 0.0
        share = 1.0 if self.used_share is None else self.used_share
        return self.prefill_s + self.step_s * max_new_tokens * share

    def sure_batch_s(self, max_new_tokens: int) -> float:
        """`batch_s` and the spread batches show around it."""
        return self.batch_s(max_new_tokens) + self.spread_s if self.known else 0.0

    def running_s(self, now_s: float | None = None) -> float:
        """Expected seconds left of the batch being decoded (0 when idle)."""
        now = time.monotonic() if now_s is None else now_s
        return max(self.busy_until_s - now, 0.0)

    def queue_s(self, limits: list[int], max_batch: int, now_s: float | None = None) -> float:
        """Expected seconds until the last of questions with generation limits `limits`
        (in the order they will be taken) is answered, from `now_s`. Under continuous
        batching (`row_ends_s` set) each question takes the first of `max_batch` rows to
        come free and holds it for `batch_s` of its own limit."""
        if self.row_ends_s is not None:
            return self._rows_s(limits, max_batch, time.monotonic() if now_s is None
                                else now_s)
        total = self.running_s(now_s)
        for first in range(0, len(limits), max_batch):
            total += self.batch_s(max(limits[first:first + max_batch]))
        return total

    def _rows_s(self, limits: list[int], rows: int, now_s: float) -> float:
        assert self.row_ends_s is not None
        free = sorted(max(end - now_s, 0.0) for end in self.row_ends_s)[:rows]
        free += [0.0] * (rows - len(free))  # rows no question holds
        heapq.heapify(free)
        end = 0.0
        for limit in limits:
            end = heapq.heappop(free) + self.batch_s(limit)
            heapq.heappush(free, end)
        return end

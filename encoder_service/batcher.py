"""Dynamic batching in front of a backend (Triton's dynamic batcher is the model).

Callers `submit` the normalised (T_i, J, 3) windows of one request and await their
(T_i, D) features. One worker task takes the first waiting request, then keeps taking
requests for up to `max_delay_ms` or until `max_batch` windows are gathered; it pads the
windows to the longest, runs the backend once on (B, T, J, 3) + a (B, T) mask in a worker
thread, and hands every request its rows, cut back to its own lengths. A request larger
than `max_batch` is split into chunks. The queue is bounded in windows: beyond
`max_queue_windows`, `submit` raises QueueFullError at once instead of growing memory.
With batching off, every request runs alone (the comparison point of the benchmark).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from encoder_service.backends import EncoderBackend
from encoder_service.errors import NotServingError, QueueFullError
from encoder_service.metrics import EncoderMetrics
from mochat.skeleton import pad_batch


@dataclass
class _Job:
    windows: list[np.ndarray]  # normalised (T_i, J, 3)
    future: asyncio.Future[list[np.ndarray]]
    enqueued_s: float = field(default_factory=time.perf_counter)


class DynamicBatcher:
    def __init__(self, backend: EncoderBackend, metrics: EncoderMetrics, *, max_batch: int,
                 max_delay_ms: float, max_queue_windows: int, batching: bool = True) -> None:
        self.backend = backend  # public: tests gate it, ops may swap it
        self._metrics = metrics
        self.max_batch = max_batch
        self.max_delay_s = max_delay_ms / 1000.0
        self.max_queue_windows = max_queue_windows
        self.batching = batching
        self._queue: deque[_Job] = deque()
        self._queued_windows = 0
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="encoder")
        self._worker: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def queued_windows(self) -> int:
        return self._queued_windows

    def start(self) -> None:
        self._worker = asyncio.get_running_loop().create_task(self._run_forever())

    async def close(self) -> None:
        """Stop the worker; requests still queued fail with NotServingError."""
        self._closed = True
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        while self._queue:
            job = self._queue.popleft()
            if not job.future.done():
                job.future.set_exception(NotServingError("the encoder is shutting down"))
        self._executor.shutdown(wait=True)

    async def submit(self, windows: list[np.ndarray]) -> list[np.ndarray]:
        """Features (T_i, D) for each window (T_i, J, 3), in order."""
        if self._closed:
            raise NotServingError("the encoder is shutting down")
        if self._queued_windows + len(windows) > self.max_queue_windows:
            raise QueueFullError(f"encoder queue full ({self._queued_windows} windows queued, "
                                 f"limit {self.max_queue_windows}); retry later")
        loop = asyncio.get_running_loop()
        jobs = [_Job(windows[i:i + self.max_batch], loop.create_future())
                for i in range(0, len(windows), self.max_batch)]
        for job in jobs:
            self._queue.append(job)
        self._set_queued(self._queued_windows + len(windows))
        self._wakeup.set()
        try:
            results = await asyncio.gather(*(job.future for job in jobs))
        except BaseException:
            for job in jobs:  # a cancelled caller: the worker skips its jobs
                job.future.cancel()
            raise
        return [features for chunk in results for features in chunk]

    def _set_queued(self, windows: int) -> None:
        self._queued_windows = windows
        self._metrics.queue_depth.set(windows)

    def _take(self, batch: list[_Job], size: int) -> int:
        """Move queued jobs into `batch` while they fit; returns the new window count."""
        while self._queue and (not batch or self.batching):
            job = self._queue[0]
            if batch and size + len(job.windows) > self.max_batch:
                break
            self._queue.popleft()
            self._set_queued(self._queued_windows - len(job.windows))
            if job.future.done():  # cancelled by its caller while queued
                continue
            batch.append(job)
            size += len(job.windows)
        return size

    async def _gather_batch(self) -> list[_Job]:
        while not self._queue:
            self._wakeup.clear()
            await self._wakeup.wait()
        batch: list[_Job] = []
        size = self._take(batch, 0)
        deadline = time.perf_counter() + self.max_delay_s
        while self.batching and size < self.max_batch and not self._queue:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                break
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            size = self._take(batch, size)
            if self._queue:  # the next job does not fit: run what we have
                break
        return batch

    async def _run_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._gather_batch()
            if not batch:
                continue
            windows = [w for job in batch for w in job.windows]
            try:
                features = await loop.run_in_executor(self._executor, self._infer, windows)
            except Exception as err:  # noqa: BLE001 - handed to every waiting caller
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(err)
                continue
            self._metrics.batch_size.observe(len(windows))
            self._metrics.batch_requests.observe(len(batch))
            start = 0
            for job in batch:
                rows = features[start:start + len(job.windows)]
                start += len(job.windows)
                if not job.future.done():
                    job.future.set_result(rows)

    def _infer(self, windows: list[np.ndarray]) -> list[np.ndarray]:
        started = time.perf_counter()
        joints, mask = pad_batch(windows)  # (B, T, J, 3), (B, T)
        out = self.backend.run(joints, mask)  # (B, T, D)
        self._metrics.inference.observe(time.perf_counter() - started)
        return [out[i, :w.shape[0]] for i, w in enumerate(windows)]

"""The ingest worker: mocap.frames -> per-stream windows -> encoder -> mocap.features.

One consumer-group member. Per assigned partition it keeps a `PartitionState` (windows and
offset bookkeeping). Closed windows go through a queue to `encoder_concurrency` workers that
batch them into Encode calls and produce the features (acks=all); only then are the windows
released, and a commit loop commits each partition's safe offset (see ingest/offsets.py).
Backpressure: above `max_inflight_windows` closed-but-unacknowledged windows, every partition
is paused, so memory stays bounded while the encoder is slow. Malformed frames go to the
dead-letter topic with their original key and bytes and `reason`/`detail` headers.

FrameBatch records (header `mochat-type: frame-batch`, frames.proto) are decoded, checked and
windowed a block at a time (`Windower.add_block`). A batch whose shared fields are bad is
dead-lettered whole; a frame of it that fails a per-frame check is dead-lettered alone: its
value that frame as a `mochat.v1.Frame`, with the batch's `source`, the batch's size as
`original_bytes` and a `frame_index` header; the batch's other frames are windowed.

Poison records: every size is bounded before anything is decoded or produced (the
`max_*` settings). A dead letter keeps at most `dlq_max_payload_bytes` of the record and
`dlq_max_detail_bytes` of detail (headers `truncated`, `original_bytes` say so), so it
always fits the producer's `max_request_bytes`; a features record that would not fit is
dead-lettered (`features_too_large`) instead of produced. A record whose handling raises
is dead-lettered (`unprocessable`) rather than stopping the service: a restart would read
it again and stop again. A dead letter's offset is released once the DLQ acknowledges it,
so no input holds a partition's commits back for good.

Idle streams are flushed on a clock that stops while consumption is paused, so backpressure
never makes a live stream look quiet.

Revoked partitions: in-flight windows get `revoke_drain_timeout_s` to finish, the safe offset
is committed and the window state is dropped - not flushed, because a flushed partial window
would carry the id of a window the new owner will build in full.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import (
    CommitFailedError,
    KafkaError,
    MessageSizeTooLargeError,
    RecordTooLargeError,
)
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.structs import ConsumerRecord

from ingest.codec import DecodedBatch, decode_record, frame_payload, record_headers
from ingest.encoder_client import EncoderClient
from ingest.metrics import IngestMetrics
from ingest.offsets import PartitionState
from ingest.settings import IngestSettings
from ingest.validation import DlqReason, Rejection
from ingest.windowing import FrameOutcome, Window
from mochat.log import clip
from mochat.serving import load_layout_files

log = structlog.get_logger("ingest")


_TOO_LARGE = (MessageSizeTooLargeError, RecordTooLargeError)  # the producer's or broker's


def record_size(key: bytes | None, value: bytes | None,
                headers: list[tuple[str, bytes]] | None = None) -> int:
    """Bytes the producer counts against max_request_size for one record (aiokafka's own
    estimate, the number its MessageSizeTooLargeError compares)."""
    return int(DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, headers or []))


def cut_utf8(text: str, limit: int) -> bytes:
    """`text` as UTF-8, at most `limit` bytes, cut at a character boundary."""
    raw = text.encode("utf-8", "replace")
    return raw if len(raw) <= limit else raw[:limit].decode("utf-8", "ignore").encode()


@dataclass(frozen=True)
class _Pending:
    state: PartitionState
    window: Window


class _Listener(ConsumerRebalanceListener):
    def __init__(self, service: IngestService) -> None:
        self.service = service

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.service.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.service.on_assigned(assigned)


class IngestService:
    def __init__(self, settings: IngestSettings, metrics: IngestMetrics | None = None) -> None:
        load_layout_files(settings.layout_files)  # frames may name them
        self.settings = settings
        self.metrics = metrics or IngestMetrics()
        self.partitions: dict[TopicPartition, PartitionState] = {}
        self._windowing = settings.windowing()
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._in_flight = 0
        self._paused = False
        self._paused_since_ms: float | None = None
        self._paused_total_ms = 0.0
        self._tasks: list[asyncio.Task[None]] = []
        self._dlq_tasks: set[asyncio.Task[None]] = set()
        self._progress = asyncio.Condition()  # notified whenever in-flight work is released
        self.stopped = asyncio.Event()
        self.error: BaseException | None = None
        self._frame_counters = {o: self.metrics.frames.labels(o.value) for o in FrameOutcome}
        kw = settings.kafka.client_kwargs()
        self.consumer = AIOKafkaConsumer(
            **kw, group_id=settings.group_id, enable_auto_commit=False,
            auto_offset_reset=settings.auto_offset_reset,
            session_timeout_ms=settings.session_timeout_ms,
            heartbeat_interval_ms=settings.heartbeat_interval_ms,
            rebalance_timeout_ms=settings.rebalance_timeout_ms,
            fetch_max_wait_ms=settings.fetch_max_wait_ms)
        self.producer = AIOKafkaProducer(**kw, acks="all", linger_ms=2,
                                         max_request_size=settings.max_request_bytes)
        self._limits = settings.frame_limits()
        self.encoder = EncoderClient(settings.encoder, self.metrics,
                                     timeout_s=settings.encoder_timeout_s,
                                     security=settings.encoder_channel,
                                     reconnect_max_ms=settings.encoder_reconnect_max_ms)

    async def start(self) -> None:
        s = self.settings
        await self.producer.start()
        self.consumer.subscribe([s.frames_topic], listener=_Listener(self))
        await self.consumer.start()
        loops = [self._poll_loop(), self._commit_loop(), self._idle_loop()]
        loops += [self._encode_worker() for _ in range(s.encoder_concurrency)]
        self._tasks = [asyncio.create_task(self._guard(c)) for c in loops]
        log.info("ingest_started", frames_topic=s.frames_topic, features_topic=s.features_topic,
                 group_id=s.group_id, encoder=s.encoder, window_s=s.window_s, step_s=s.step_s,
                 grace_ms=s.grace_ms, layout_files=[str(p) for p in s.layout_files])

    async def _guard(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a loop; an unexpected error stops the service (nothing is committed past it)."""
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception as err:  # noqa: BLE001 - recorded and fatal
            log.error("ingest_failed", exc_info=err)
            self.error = err
            self.stopped.set()

    async def stop(self) -> None:
        """Stop reading, let in-flight windows finish, commit, leave the group."""
        poll = self._tasks[0] if self._tasks else None
        if poll is not None:
            poll.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poll
        if self.error is None:  # workers are alive: let them finish what is in flight
            await self._drain(list(self.partitions.values()), self.settings.revoke_drain_timeout_s)
        await self._commit_safe()  # safe even after an error: failed windows are still held
        for task in self._tasks[1:]:
            task.cancel()
        await asyncio.gather(*self._tasks[1:], *self._dlq_tasks, return_exceptions=True)
        await self.consumer.stop()  # leaves the group (aiokafka calls no revoke hook here)
        await self.producer.stop()
        await self.encoder.close()
        self.stopped.set()
        log.info("ingest_stopped")

    # --- consuming -----------------------------------------------------------------------

    async def _poll_loop(self) -> None:
        s = self.settings
        while True:
            batch = await self.consumer.getmany(timeout_ms=s.poll_timeout_ms,
                                                max_records=s.poll_max_records)
            now_ms = self._stream_clock_ms()
            for tp, records in batch.items():
                state = self.partitions.get(tp)
                if state is None:  # revoked since the fetch; the new owner reads them
                    continue
                for record in records:
                    if self._paused:  # the rest is read again after resume()
                        self.consumer.seek(tp, record.offset)
                        break
                    self._handle(tp, state, record, now_ms)
                    self._backpressure()

    def _handle(self, tp: TopicPartition, state: PartitionState, record: ConsumerRecord,
                now_ms: float) -> None:
        state.consumed(record.offset)
        try:
            self._window_record(tp, state, record, now_ms)
        except Exception as err:  # noqa: BLE001 - one record must not stop the partition
            log.error("record_failed", partition=tp.partition, offset=record.offset,
                      exc_info=err)
            self._frame_counters[FrameOutcome.REJECTED].inc()
            self._dead_letter(tp, state, record, Rejection(
                DlqReason.UNPROCESSABLE, f"{type(err).__name__}: {clip(str(err))}"))

    def _window_record(self, tp: TopicPartition, state: PartitionState,
                       record: ConsumerRecord, now_ms: float) -> None:
        header_bytes, record_type = record_headers(record.headers)
        decoded = decode_record(record.value, record.key, header_bytes=header_bytes,
                                offset=record.offset, limits=self._limits,
                                record_type=record_type)
        if isinstance(decoded, Rejection):
            self._frame_counters[FrameOutcome.REJECTED].inc()
            self._dead_letter(tp, state, record, decoded)
            return
        if isinstance(decoded, DecodedBatch):
            self._window_batch(tp, state, record, decoded, now_ms)
            return
        result = state.windower.add(decoded, now_ms)
        self._frame_counters[result.outcome].inc()
        if result.rejection is not None:
            self._dead_letter(tp, state, record, result.rejection)
        for window in result.windows:
            self._submit(state, window)

    def _window_batch(self, tp: TopicPartition, state: PartitionState,
                      record: ConsumerRecord, batch: DecodedBatch, now_ms: float) -> None:
        """A FrameBatch: its good runs go to the windower as blocks; each frame that failed a
        check (decoding's or the windower's) is dead-lettered on its own, unless every frame
        failed (a layout or rate other than the stream's, say): then the record, once."""
        rejected = list(batch.rejected)
        outcomes: Counter[FrameOutcome] = Counter({FrameOutcome.REJECTED: len(rejected)})
        for run in batch.runs():
            result = state.windower.add_block(run, now_ms)
            outcomes.update(result.outcomes)
            rejected.extend(result.rejections)
            for window in result.windows:
                self._submit(state, window)
        for outcome, count in outcomes.items():
            if count:
                self._frame_counters[outcome].inc(count)
        n = batch.block.num_frames
        if n > 1 and len(rejected) == n:
            first = min(rejected, key=lambda r: r[0])[1]
            self._dead_letter(tp, state, record, Rejection(
                first.reason, f"all {n} frames of the batch; the first: {first.detail}"))
            return
        for index, rejection in sorted(rejected, key=lambda r: r[0]):
            self._dead_letter(tp, state, record, rejection, frame_index=index,
                              value=frame_payload(batch.block, index))

    def _submit(self, state: PartitionState, window: Window) -> None:
        state.hold(window.min_offset)
        self._in_flight += 1
        self.metrics.inflight.set(self._in_flight)
        self.metrics.windows.labels("complete" if window.complete else "partial").inc()
        self._queue.put_nowait(_Pending(state, window))

    def _dead_letter(self, tp: TopicPartition, state: PartitionState, record: ConsumerRecord,
                     rejection: Rejection, *, frame_index: int | None = None,
                     value: bytes | None = None) -> None:
        """Dead-letter a record, or one frame of a batch record (`frame_index`; `value` is
        then that frame as a Frame, or None to keep the record's own bytes)."""
        state.hold(record.offset)
        source = f"{tp.topic}/{tp.partition}/{record.offset}"
        extra = [] if frame_index is None else [("frame_index", str(frame_index).encode())]
        task = asyncio.create_task(self._guard(self._send_dead_letter(
            state, record.offset, record.key, record.value if value is None else value,
            rejection, source, original_bytes=len(record.value or b""), extra=extra)))
        self._dlq_tasks.add(task)
        task.add_done_callback(self._dlq_tasks.discard)

    def _dead_letter_record(self, key: bytes | None, value: bytes | None,
                            rejection: Rejection, source: str, original_bytes: int | None = None
                            ) -> tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]:
        """(key, value, headers) of a dead letter: the reason whole, everything else cut to
        its limit, and what was cut and how big it was said in headers."""
        s = self.settings
        cut: list[str] = []
        size = len(value or b"")
        if value is not None and size > s.dlq_max_payload_bytes:
            value, cut = value[:s.dlq_max_payload_bytes], [*cut, "value"]
        if key is not None and len(key) > 4 * s.max_stream_id_chars:
            key, cut = key[:4 * s.max_stream_id_chars], [*cut, "key"]
        detail = cut_utf8(rejection.detail, s.dlq_max_detail_bytes)
        if len(detail) < len(rejection.detail.encode("utf-8", "replace")):
            cut.append("detail")
        headers = [("reason", rejection.reason.value.encode()), ("detail", detail),
                   ("source", cut_utf8(source, 512)),
                   ("original_bytes", str(size if original_bytes is None
                                          else original_bytes).encode())]
        if cut:
            headers.append(("truncated", ",".join(cut).encode()))
        return key, value, headers

    async def _send_dead_letter(self, state: PartitionState | None, offset: int,
                                key: bytes | None, value: bytes | None, rejection: Rejection,
                                source: str, *, original_bytes: int | None = None,
                                extra: list[tuple[str, bytes]] | None = None) -> None:
        """Produce a dead letter and wait for it; then its offset may be committed. One the
        broker still finds too large goes again without the payload."""
        self.metrics.dead_letters.labels(rejection.reason.value).inc()
        log.info("dead_letter", reason=rejection.reason.value, detail=clip(rejection.detail),
                 source=clip(source), **{k: v.decode() for k, v in extra or ()},
                 original_bytes=len(value or b"") if original_bytes is None else original_bytes)
        key, value, headers = self._dead_letter_record(key, value, rejection, source,
                                                       original_bytes)
        headers.extend(extra or ())
        try:
            await (await self.producer.send(self.settings.dlq_topic, value, key=key,
                                            headers=headers))
        except _TOO_LARGE as err:
            log.warning("dead_letter_too_large", error=clip(str(err)), source=clip(source))
            headers.append(("truncated", b"value,broker_limit"))
            await (await self.producer.send(self.settings.dlq_topic, None, key=key,
                                            headers=headers))
        if state is not None:
            state.release(offset)
            await self._released()

    def _stream_clock_ms(self) -> float:
        """Wall time minus the time spent paused: a stream is idle only if it sent nothing
        while we were reading, never because backpressure stopped us reading."""
        now = 1000.0 * time.monotonic()
        paused = now - self._paused_since_ms if self._paused_since_ms is not None else 0.0
        return now - self._paused_total_ms - paused

    def _backpressure(self) -> None:
        limit = self.settings.max_inflight_windows
        if not self._paused and self._in_flight >= limit:
            self._paused = True
            self._paused_since_ms = 1000.0 * time.monotonic()
            self.consumer.pause(*self.consumer.assignment())
            self.metrics.paused.set(1)
            log.info("paused", in_flight=self._in_flight)
        elif self._paused and self._in_flight <= limit // 2:
            self._paused = False
            if self._paused_since_ms is not None:
                self._paused_total_ms += 1000.0 * time.monotonic() - self._paused_since_ms
                self._paused_since_ms = None
            self.consumer.resume(*self.consumer.assignment())
            self.metrics.paused.set(0)
            log.info("resumed", in_flight=self._in_flight)

    async def _idle_loop(self) -> None:
        period = min(self._windowing.idle_timeout_ms / 4000.0, 0.25)
        while True:
            await asyncio.sleep(period)
            if self._paused:
                continue
            now_ms = self._stream_clock_ms()
            for state in list(self.partitions.values()):
                for window in state.windower.flush_idle(now_ms):
                    self._submit(state, window)
                for event, count in state.new_events().items():
                    self.metrics.windowing.labels(event).inc(count)

    # --- encoding and producing ----------------------------------------------------------

    async def _next_batch(self) -> list[_Pending]:
        batch = [await self._queue.get()]
        deadline = time.monotonic() + self.settings.encoder_max_delay_ms / 1000.0
        while len(batch) < self.settings.encoder_max_batch:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                break
        return batch

    async def _encode_worker(self) -> None:
        while True:
            batch = await self._next_batch()
            live = [p for p in batch if not p.state.revoked]
            if live:
                await self._encode_and_produce(live)
            for pending in batch:
                pending.state.release(pending.window.min_offset)
            self._in_flight -= len(batch)
            self.metrics.inflight.set(self._in_flight)
            self._backpressure()
            await self._released()

    async def _encode_and_produce(self, batch: list[_Pending]) -> None:
        self.metrics.batch_size.observe(len(batch))
        features = await self.encoder.encode([p.window for p in batch])
        acks: list[tuple[_Pending, asyncio.Future[Any]]] = []
        for pending, msg in zip(batch, features, strict=True):
            if msg is None:
                self.metrics.windows_invalid.inc()
                continue
            key, value = pending.window.stream_id.encode(), msg.SerializeToString()
            size = record_size(key, value)
            if size > self.settings.max_request_bytes:  # refused before the producer raises
                await self._features_too_large(pending.window, key, value, f"{size} bytes, "
                                               f"over max_request_bytes "
                                               f"{self.settings.max_request_bytes}")
                continue
            acks.append((pending, await self.producer.send(
                self.settings.features_topic, value, key=key)))
        produced = 0
        for pending, ack in acks:  # other KafkaErrors are fatal: nothing is committed past
            try:
                await ack
                produced += 1
            except _TOO_LARGE as err:  # the broker's limit is below ours
                await self._features_too_large(pending.window, pending.window.stream_id
                                               .encode(), b"", clip(str(err)))
        now_us = time.time() * 1e6
        for pending in batch:
            self.metrics.latency.observe(
                max(0.0, now_us - pending.window.last_capture_time_us) / 1e6)
        self.metrics.features.inc(produced)

    async def _features_too_large(self, window: Window, key: bytes, value: bytes,
                                  why: str) -> None:
        """A window whose features cannot be produced: a dead letter instead (its frames'
        offsets are released with the window, as for any window)."""
        self.metrics.windows_invalid.inc()
        rejection = Rejection(DlqReason.FEATURES_TOO_LARGE,
                              f"features of window {clip(window.window_id)} are {why}")
        await self._send_dead_letter(None, -1, key, value, rejection,
                                     f"{self.settings.features_topic}/window/"
                                     f"{clip(window.window_id)}")

    # --- offsets and rebalances ----------------------------------------------------------

    async def _commit_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.commit_interval_ms / 1000.0)
            await self._commit_safe()

    async def _commit_safe(self, partitions: dict[TopicPartition, PartitionState] | None = None
                           ) -> None:
        states = self.partitions if partitions is None else partitions
        due = {tp: off for tp, st in states.items() if (off := st.commit_due()) is not None}
        if not due:
            return
        try:
            await self.consumer.commit(due)
        except (CommitFailedError, KafkaError) as err:
            log.warning("commit_failed", error=str(err))
            return
        for tp, off in due.items():
            states[tp].committed = off
        self.metrics.commits.inc()
        log.debug("committed", offsets={f"{tp.topic}/{tp.partition}": o for tp, o in due.items()})

    async def _drain(self, states: list[PartitionState], timeout_s: float) -> None:
        """Wait (at most timeout_s) until nothing of `states` is in flight."""
        async def settled() -> None:
            async with self._progress:
                await self._progress.wait_for(lambda: not any(st.in_flight for st in states))

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(settled(), timeout_s)

    async def _released(self) -> None:
        async with self._progress:
            self._progress.notify_all()

    def on_assigned(self, assigned: set[TopicPartition]) -> None:
        for tp in assigned:
            self.partitions.setdefault(tp, PartitionState(self._windowing))
        if self._paused and assigned:
            self.consumer.pause(*assigned)
        self.metrics.rebalances.labels("assigned").inc(len(assigned))
        log.info("partitions_assigned", partitions=sorted(tp.partition for tp in assigned))

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        states = {tp: st for tp in revoked if (st := self.partitions.get(tp)) is not None}
        await self._drain(list(states.values()), self.settings.revoke_drain_timeout_s)
        await self._commit_safe(states)
        for tp, state in states.items():
            state.revoked = True
            self.partitions.pop(tp, None)
        self.metrics.rebalances.labels("revoked").inc(len(revoked))
        log.info("partitions_revoked", partitions=sorted(tp.partition for tp in revoked),
                 dropped_streams=sum(len(st.windower.stream_ids) for st in states.values()))


async def serve(settings: IngestSettings, stop: asyncio.Event) -> int:
    """Run until `stop` is set or a loop fails; returns the exit code."""
    service = IngestService(settings)
    http = None
    if settings.metrics_port is not None:
        http, port = service.metrics.serve_http(settings.metrics_port, settings.host)
        log.info("metrics", port=port)
    await service.start()
    waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(service.stopped.wait())]
    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    for waiter in waiters:
        waiter.cancel()
    await service.stop()
    if http is not None:
        http.shutdown()
    return 1 if service.error is not None else 0

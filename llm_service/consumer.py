"""`mocap.features` -> the feature store.

Every replica of the LLM service must be able to answer about every stream, so the consumer
joins no group: it assigns itself all partitions of the topic and commits nothing. Where it
starts is a setting: `retention` seeks each partition to the first record younger than the
store's retention (so a restarted server answers at once), `earliest` or `latest`. Records
are filtered by age again on arrival, so a broker that answers time lookups loosely costs
reading time, not correctness.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time

import numpy as np
import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord
from google.protobuf.message import DecodeError

from llm_service.metrics import LlmMetrics
from llm_service.settings import LlmSettings
from llm_service.store import AddOutcome, FeatureStore, MotionView, StoredWindow
from mochat.errors import DataFormatError
from protos.convert import features_from_proto
from protos.mochat.v1 import frames_pb2

log = structlog.get_logger("llm_service")


def decode_features(record: ConsumerRecord) -> StoredWindow:
    """Record -> StoredWindow (features copied out of the message); DataFormatError if bad."""
    try:
        msg = frames_pb2.MotionFeatures.FromString(record.value or b"")
    except DecodeError as err:
        raise DataFormatError(f"not a mochat.v1.MotionFeatures: {err}") from None
    rates_ok = math.isfinite(msg.fps) and msg.fps > 0 and math.isfinite(msg.feature_fps) \
        and msg.feature_fps >= 0
    if not msg.stream_id or not msg.window_id or msg.first_frame < 0 or not rates_ok \
            or msg.last_frame < msg.first_frame:
        raise DataFormatError(f"MotionFeatures {msg.window_id!r} of stream {msg.stream_id!r} "
                              "lacks stream_id, window_id, first_frame >= 0, last_frame >= "
                              "first_frame, fps > 0 or feature_fps >= 0")
    features = np.array(features_from_proto(msg))  # (T', D) at feature_fps, a writable copy
    view = MotionView.of_window(
        msg.stream_id, msg.window_id, int(msg.first_frame), int(msg.last_frame),
        float(msg.fps), features, feature_fps=float(msg.feature_fps),
        first_capture_time_us=msg.first_capture_time_us,
        last_capture_time_us=msg.last_capture_time_us)
    produced_ms = record.timestamp if record.timestamp and record.timestamp > 0 \
        else int(time.time() * 1000)
    return StoredWindow(view, int(produced_ms), msg.encoder)


class FeatureConsumer:
    def __init__(self, settings: LlmSettings, store: FeatureStore, metrics: LlmMetrics) -> None:
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self.consumer = AIOKafkaConsumer(**settings.kafka.client_kwargs(), group_id=None,
                                         enable_auto_commit=False,
                                         auto_offset_reset="earliest")
        self._task: asyncio.Task[None] | None = None
        self.assigned = asyncio.Event()

    async def start(self) -> None:
        await self.consumer.start()
        self._task = asyncio.create_task(self._run(), name="llm-features")
        log.info("features_consumer_started", topic=self.settings.features_topic,
                 bootstrap_servers=self.settings.kafka.bootstrap_servers,
                 start_from=self.settings.start_from)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.consumer.stop()

    async def _assign(self) -> None:
        """Wait for the topic to exist, take all its partitions, seek to the start point."""
        topic = self.settings.features_topic
        while True:
            parts = self.consumer.partitions_for_topic(topic)
            if parts:
                break
            with contextlib.suppress(KafkaError):
                await self.consumer._client.force_metadata_update()  # noqa: SLF001
            if not self.consumer.partitions_for_topic(topic):
                await asyncio.sleep(1.0)
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        self.consumer.assign(tps)
        mode = self.settings.start_from
        if mode == "earliest":
            await self.consumer.seek_to_beginning(*tps)
        elif mode == "latest":
            await self.consumer.seek_to_end(*tps)
        else:
            since_ms = int(time.time() * 1000 - self.settings.store_max_age_s * 1000)
            found = await self.consumer.offsets_for_times({tp: since_ms for tp in tps})
            for tp in tps:
                hit = found.get(tp)
                if hit is None:
                    await self.consumer.seek_to_end(tp)
                else:
                    self.consumer.seek(tp, hit.offset)
        self.assigned.set()
        log.info("features_assigned", topic=topic, partitions=len(tps), start_from=mode)

    async def _run(self) -> None:
        await self._assign()
        while True:
            try:
                batches = await self.consumer.getmany(timeout_ms=200, max_records=500)
            except KafkaError as err:
                log.warning("features_poll_failed", error=str(err))
                await asyncio.sleep(1.0)
                continue
            for records in batches.values():
                for record in records:
                    self._add(record)
            stats = self.store.stats()
            self.metrics.store_windows.set(stats.windows)
            self.metrics.store_bytes.set(stats.nbytes)
            self.metrics.store_streams.set(stats.streams)

    def _add(self, record: ConsumerRecord) -> None:
        try:
            window = decode_features(record)
        except DataFormatError as err:
            self.metrics.records.labels("invalid").inc()
            log.warning("features_invalid", partition=record.partition, offset=record.offset,
                        reason=str(err))
            return
        outcome = self.store.add(window)
        self.metrics.records.labels(outcome.value).inc()
        if outcome in (AddOutcome.WRONG_DIM, AddOutcome.WRONG_RATE, AddOutcome.TOO_LARGE):
            log.warning("features_refused", stream_id=window.view.stream_id,
                        window_id=window.window_id, outcome=outcome.value,
                        shape=list(window.view.features.shape),
                        feature_fps=window.view.feature_fps, encoder=window.encoder)
            return
        log.debug("features_read", stream_id=window.view.stream_id, window_id=window.window_id,
                  outcome=outcome.value)

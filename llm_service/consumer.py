"""`mocap.features` -> the feature store.

Every replica of the LLM service must be able to answer about every stream, so the consumer
joins no group: it assigns itself all partitions of the topic and commits nothing. Where it
starts is a setting: `retention` seeks each partition to the first record younger than the
store's retention (so a restarted server answers at once), `earliest` or `latest`. Records
are filtered by age again on arrival, so a broker that answers time lookups loosely costs
reading time, not correctness.

Nothing on the topic is trusted (`FeatureChecks`, checked before any array is copied): a
record must name its stream and window within `max_id_chars`, have at least one frame and
one row, rows that match its frames mapped by `feature_fps` (the model's rate), at most the
model's `max_rows` rows (and only as many frames as those rows can stand for), finite
features, and come from the expected encoder (the `features_encoder` setting; by default
the one the encoder service reports). The store refuses a window far from its stream's
latest one (`max_jump_s`), so a forged window cannot take over a stream's "latest" answers.
Refused records are counted by reason and logged with clipped ids; none is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from dataclasses import dataclass

import numpy as np
import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord
from google.protobuf.message import DecodeError

from llm_service.metrics import LlmMetrics
from llm_service.settings import LlmSettings
from llm_service.store import REFUSED, FeatureStore, MotionView, StoredWindow
from mochat.errors import DataFormatError
from mochat.log import clip
from mochat.serving import longest_source
from protos.convert import feature_rows, features_from_proto
from protos.mochat.v1 import frames_pb2

log = structlog.get_logger("llm_service")


MAX_FPS = 1000.0  # the encoder service's limit too


@dataclass(frozen=True)
class FeatureChecks:
    """What a MotionFeatures record must be to be stored; None = not checked."""

    feature_fps: float | None = None  # the model's rate: rows come at it
    max_rows: int | None = None  # the model's frame limit, in rows
    encoder: str | None = None  # the encoder whose features these must be
    max_id_chars: int = 256


class RefusedRecord(DataFormatError):
    """A features record that is not stored; `reason` is its metrics outcome."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _check_header(msg: frames_pb2.MotionFeatures, checks: FeatureChecks) -> None:
    """Ids, frames, rates and encoder: everything that needs no array."""
    label = f"MotionFeatures {clip(msg.window_id, 80)!r} of stream {clip(msg.stream_id, 80)!r}"
    if not msg.stream_id or not msg.window_id or msg.first_frame < 0 \
            or msg.last_frame < msg.first_frame:
        raise RefusedRecord("invalid", f"{label} lacks stream_id, window_id, first_frame >= 0 "
                            "or last_frame >= first_frame (at least one frame)")
    if max(len(msg.stream_id), len(msg.window_id)) > checks.max_id_chars:
        raise RefusedRecord("invalid", f"{label}: an id is over {checks.max_id_chars} "
                            "characters")
    feature_fps = msg.feature_fps or msg.fps
    if not (math.isfinite(msg.fps) and 0 < msg.fps <= MAX_FPS
            and math.isfinite(feature_fps) and 0 < feature_fps <= MAX_FPS):
        raise RefusedRecord("bad_rate", f"{label}: fps {msg.fps!r} and feature_fps "
                            f"{msg.feature_fps!r} must be finite rates in (0, {MAX_FPS:g}]")
    if checks.feature_fps is not None and \
            abs(feature_fps - checks.feature_fps) > 1e-6 * checks.feature_fps:
        raise RefusedRecord("wrong_rate", f"{label}: rows at {feature_fps:g} fps, the model "
                            f"reads {checks.feature_fps:g}")
    if checks.encoder is not None and msg.encoder != checks.encoder:
        raise RefusedRecord("wrong_encoder", f"{label}: encoder {clip(msg.encoder, 80)!r}, "
                            f"expected {checks.encoder!r}")
    frames = msg.last_frame - msg.first_frame + 1
    if checks.max_rows is not None:
        most = longest_source(checks.max_rows, msg.fps, feature_fps)
        if frames > most:  # before rows are computed or any per-frame array is made
            raise RefusedRecord("too_long", f"{label}: {frames} frames at {msg.fps:g} fps, "
                                f"over the model's limit of {most} ({checks.max_rows} rows)")
    if feature_rows(msg) < 1:
        raise RefusedRecord("empty", f"{label}: no feature rows")


def decode_features(record: ConsumerRecord, checks: FeatureChecks | None = None
                    ) -> StoredWindow:
    """Record -> StoredWindow (features copied out of the message), or RefusedRecord (a
    DataFormatError) saying why it is not stored."""
    checks = checks or FeatureChecks()
    try:
        msg = frames_pb2.MotionFeatures.FromString(record.value or b"")
    except DecodeError as err:
        raise RefusedRecord("invalid", f"not a mochat.v1.MotionFeatures: {err}") from None
    _check_header(msg, checks)
    try:
        features = features_from_proto(msg)  # (T', D) at feature_fps, a read-only view
    except DataFormatError as err:
        raise RefusedRecord("invalid", str(err)) from None
    if not np.isfinite(features).all():
        raise RefusedRecord("not_finite", f"features {clip(msg.window_id, 80)!r} hold NaN "
                            "or inf")
    view = MotionView.of_window(
        msg.stream_id, msg.window_id, int(msg.first_frame), int(msg.last_frame),
        float(msg.fps), np.array(features), feature_fps=float(msg.feature_fps),
        first_capture_time_us=msg.first_capture_time_us,
        last_capture_time_us=msg.last_capture_time_us)
    produced_ms = record.timestamp if record.timestamp and record.timestamp > 0 \
        else int(time.time() * 1000)
    return StoredWindow(view, int(produced_ms), msg.encoder)


class FeatureConsumer:
    def __init__(self, settings: LlmSettings, store: FeatureStore, metrics: LlmMetrics,
                 checks: FeatureChecks | None = None) -> None:
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self.checks = checks or FeatureChecks(feature_fps=store.feature_fps)
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
                 start_from=self.settings.start_from, encoder=self.checks.encoder,
                 max_rows=self.checks.max_rows)
        if self.checks.encoder is None:
            log.warning("features_encoder_unchecked", reason="no features_encoder setting "
                        "and no encoder service reported its model: features of any encoder "
                        "are stored")

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
            window = decode_features(record, self.checks)
        except RefusedRecord as err:
            self.metrics.records.labels(err.reason).inc()
            log.warning("features_refused", partition=record.partition, offset=record.offset,
                        outcome=err.reason, reason=clip(str(err), 400))
            return
        outcome = self.store.add(window)
        self.metrics.records.labels(outcome.value).inc()
        if outcome in REFUSED:
            log.warning("features_refused", stream_id=clip(window.view.stream_id),
                        window_id=clip(window.window_id), outcome=outcome.value,
                        shape=list(window.view.features.shape),
                        frames=[window.view.first_frame, window.view.last_frame],
                        feature_fps=window.view.feature_fps, encoder=clip(window.encoder))
            return
        log.debug("features_read", stream_id=clip(window.view.stream_id),
                  window_id=clip(window.window_id), outcome=outcome.value)

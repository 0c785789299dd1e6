"""Send the inputs of tests/fuzz_inputs.py to real services and account for every one.

- `produce_records`: bad frame records (preludes first) to a frames topic; returns where
  each bad record landed ("topic/partition/offset", the `source` header ingest writes).
- `account_dead_letters`: match the dead-letter topic against those sources: every bad
  record needs a dead letter with one of its allowed reasons.
- `call_all`: every bad request through a generic channel call (raw bytes, no stub), with
  the status code each got; `unaccounted` lists the ones answered OK, INTERNAL or UNKNOWN.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from protos.mochat.v1 import encoder_pb2
from tests.fuzz_inputs import BadRecord, BadRequest

MIB = 1024 * 1024
SERVICES = {"Encode": "EncoderService", "EncodeStream": "EncoderService",
            "GetModelInfo": "EncoderService", "Ask": "LlmService", "AskStream": "LlmService",
            "CreateSession": "LlmService", "EndSession": "LlmService"}
BAD_CODES = {"OK", "INTERNAL", "UNKNOWN"}


async def produce_records(client_kwargs: dict[str, Any], topic: str,
                          records: Sequence[BadRecord]) -> list[str]:
    """Produce every record (its prelude first, same key); the source of each bad one."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(**client_kwargs, acks="all", linger_ms=5,
                                max_request_size=4 * MIB)
    await producer.start()
    try:
        acks = []
        for rec in records:
            for key, value in rec.prelude:
                await producer.send(topic, value, key=key)
            acks.append(await producer.send(topic, rec.value, key=rec.key,
                                            headers=list(rec.headers) or None))
        metas = await asyncio.gather(*acks)
    finally:
        await producer.stop()
    return [f"{topic}/{m.partition}/{m.offset}" for m in metas]


@dataclass(frozen=True)
class Accounting:
    tried: int
    accounted: int
    reasons: Counter[str]
    missing: list[tuple[str, str]]  # (kind, source) without a dead letter
    wrong_reason: list[tuple[str, str, str]]  # (kind, source, reason)


def account_dead_letters(records: Sequence[BadRecord], sources: Sequence[str],
                         dead_letters: Sequence[Any]) -> Accounting:
    """Every bad record against the dead letters read (aiokafka ConsumerRecords)."""
    by_source = {}
    for dl in dead_letters:
        headers = dict(dl.headers)
        by_source[headers["source"].decode()] = headers["reason"].decode()
    missing, wrong, reasons = [], [], Counter[str]()
    for rec, source in zip(records, sources, strict=True):
        reason = by_source.get(source)
        if reason is None:
            missing.append((rec.kind, source))
        elif reason not in rec.reasons:
            wrong.append((rec.kind, source, reason))
        else:
            reasons[reason] += 1
    return Accounting(len(records), sum(reasons.values()), reasons, missing, wrong)


async def call_one(channel: grpc.aio.Channel, req: BadRequest, timeout_s: float = 30.0
                   ) -> str:
    """The status code name a bad request got (an EncodeStream error travels in-stream)."""
    path = f"/mochat.v1.{SERVICES[req.method]}/{req.method}"
    try:
        if req.method == "EncodeStream":
            replies = [encoder_pb2.EncodeStreamResponse.FromString(raw) async for raw in
                       channel.stream_stream(path)(iter([req.payload]), timeout=timeout_s)]
            if len(replies) != 1:
                return "UNKNOWN"
            if replies[0].HasField("error"):
                return code_name(replies[0].error.code)
            return "OK"
        if req.method == "AskStream":
            async for _ in channel.unary_stream(path)(req.payload, timeout=timeout_s):
                pass
            return "OK"
        await channel.unary_unary(path)(req.payload, timeout=timeout_s)
        return "OK"
    except grpc.aio.AioRpcError as err:
        return err.code().name


def code_name(value: int) -> str:
    """The name of a numeric status code (an EncodeError's)."""
    return next((c.name for c in grpc.StatusCode if c.value[0] == value), "UNKNOWN")


async def call_all(channel: grpc.aio.Channel, requests: Sequence[BadRequest], *,
                   concurrency: int = 8) -> list[str]:
    """The code of every request, in order, at most `concurrency` in flight."""
    gate = asyncio.Semaphore(concurrency)

    async def one(req: BadRequest) -> str:
        async with gate:
            return await call_one(channel, req)

    return list(await asyncio.gather(*(one(r) for r in requests)))


def unaccounted(requests: Sequence[BadRequest], codes: Sequence[str]
                ) -> list[tuple[str, str, str]]:
    """(method, kind, code) of every request answered OK, INTERNAL or UNKNOWN."""
    return [(r.method, r.kind, c) for r, c in zip(requests, codes, strict=True)
            if c in BAD_CODES]

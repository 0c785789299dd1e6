"""`mochat demo`: the live pipeline end to end, on this machine, in real time.

    1. pick the streams (demo/streams.py) and write their motion files;
    2. start the broker, encoder, ingest and LLM services (demo/services.py);
    3. replay every stream in real time, each in its own layout and rate, stream i starting
       i * 1.5 s after the first; as soon as a stream's motion has reached the LLM service,
       ask it the stream's questions and print each answer as it arrives, beside the
       expected one, with spans in the stream's own frames and capture times;
    4. stop every process (also on Ctrl-C, SIGTERM or an error), then draw one GIF per
       stream with the answered "when" span highlighted.

Everything goes under --out: answers.jsonl (one line per answer), <stream>.gif, streams/
(the motion files), logs/ (every service), run/ (pids.json, the throwaway TLS material).
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from demo import report
from demo.processes import Children
from demo.services import Pipeline, ServiceError, say, start_pipeline
from demo.streams import DemoStream, Question, demo_streams
from mochat.errors import MoChatError

ASK_TIMEOUT_S = 120.0  # one question, queue and decode, on a busy 2-core machine
ARRIVAL_TIMEOUT_S = 60.0  # from a stream's last frame until its motion is in the store


@dataclass(frozen=True)
class DemoOptions:
    out: Path
    streams: int
    seconds: float | None
    gif: bool
    plaintext_dev: bool
    model: Path
    stagger_s: float = 1.5


async def _ask(stub: Any, metadata: Any, stream: DemoStream, question: Question,
               ended: float) -> Any:
    """Ask about the stream's whole motion; NOT_FOUND (not all of it stored yet) is retried
    until ARRIVAL_TIMEOUT_S after the stream ended."""
    import grpc

    from protos.mochat.v1 import llm_pb2

    first, last = stream.frames
    request = llm_pb2.AskRequest(stream_id=stream.stream_id, question=question.text,
                                 frames=llm_pb2.FrameRange(first_frame=first, last_frame=last),
                                 priority=llm_pb2.PRIORITY_LIVE)
    while True:
        try:
            return await stub.Ask(request, metadata=metadata, timeout=ASK_TIMEOUT_S)
        except grpc.aio.AioRpcError as err:
            waiting = err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE)
            if not waiting or time.monotonic() - ended > ARRIVAL_TIMEOUT_S:
                raise
        await asyncio.sleep(0.25)


async def _play_and_ask(stream: DemoStream, pipeline: Pipeline, stub: Any, metadata: Any,
                        sink: report.AnswerSink) -> None:
    from ingest.replay import replay_to_kafka

    await asyncio.sleep(stream.start_delay_s)
    say(report.started(stream))
    kafka = {"bootstrap_servers": pipeline.bootstrap_servers, "client_id": "mochat-demo"}
    stats = await replay_to_kafka([stream.replay], "mocap.frames", kafka, realtime=True)
    ended = time.monotonic()
    say(report.ended(stream, stats.frames_sent, stats.max_lag_ms))

    async def one(question: Question) -> None:
        try:
            answer = await _ask(stub, metadata, stream, question, ended)
        except Exception as err:  # noqa: BLE001 - printed and recorded; the others go on
            code = getattr(err, "code", lambda: None)()
            detail = err.details() if hasattr(err, "details") else str(err)
            sink.failed(stream, question, f"{getattr(code, 'name', type(err).__name__)}: "
                        f"{detail}")
            return
        sink.answered(stream, question, answer, time.monotonic() - ended)

    await asyncio.gather(*(one(q) for q in stream.questions))


async def _live(pipeline: Pipeline, streams: list[DemoStream],
                sink: report.AnswerSink) -> None:
    from protos.mochat.v1 import llm_pb2_grpc

    say("== live: streams play in real time; each one is asked once its motion is in the "
        "LLM service")
    metadata = pipeline.client.metadata()
    async with pipeline.client.channel(pipeline.llm) as channel:
        stub = llm_pb2_grpc.LlmServiceStub(channel)
        await asyncio.gather(*(_play_and_ask(s, pipeline, stub, metadata, sink)
                               for s in streams))


def _sigterm_as_interrupt(signum: int, frame: Any) -> None:
    """SIGTERM takes the path of Ctrl-C: asyncio cancels the run, `finally` stops all."""
    signal.raise_signal(signal.SIGINT)


def run_demo(options: DemoOptions) -> int:
    """The whole demo; 0 when every question was answered, 1 when some failed, 2 when the
    pipeline did not start, 130 when interrupted."""
    from mochat.log import configure_logging

    configure_logging("warning", stream=sys.stderr)  # the broker's info lines stay out
    out = options.out
    for stale in ("logs", "run", "streams"):
        shutil.rmtree(out / stale, ignore_errors=True)
    (out / "logs").mkdir(parents=True, exist_ok=True)
    children = Children(out / "run" / "pids.json")
    # Ctrl-C raises KeyboardInterrupt even where SIGINT came in ignored (a job started
    # with `&` by a script), and SIGTERM follows it.
    previous = {signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler),
                signal.SIGTERM: signal.signal(signal.SIGTERM, _sigterm_as_interrupt)}
    sink = report.AnswerSink(out / "answers.jsonl")
    try:
        streams = demo_streams(options.streams, out / "streams", max_seconds=options.seconds,
                               stagger_s=options.stagger_s)
        say("== streams (each sent as its capture system would: own layout, rate, frames)")
        for stream in streams:
            say(report.listing(stream))
        say("== services (127.0.0.1 only; every process is stopped by PID when the demo ends)")
        pipeline = start_pipeline(children, model=options.model, out=out, logs=out / "logs",
                                  plaintext_dev=options.plaintext_dev)
        say(f"   all up in {pipeline.startup_s:.0f} s; pids in {children.pids_file}")
        asyncio.run(_live(pipeline, streams, sink))
        _stop(children)
        if options.gif:
            say("== GIFs (the answered 'when' span on a yellow backdrop)")
            for stream in streams:
                say(report.render_gif(stream, sink.when_span(stream.stream_id), out))
        say(report.summary(streams, sink, out))
        return 0 if sink.complete(streams) else 1
    except KeyboardInterrupt:
        say("\ninterrupted: stopping every process")
        return 130
    except (ServiceError, MoChatError, RuntimeError) as err:
        say(f"mochat demo: error: {err}")
        return 2
    finally:
        _stop(children)
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _stop(children: Children) -> None:
    live = [c for c in children.children if c.running()]
    if not live:
        return
    t0 = time.monotonic()
    killed = children.stop_all(grace_s=10.0)
    names = ", ".join(f"{c.name} {c.pid}" for c in live)
    say(f"== stopped {len(live)} processes by pid in {time.monotonic() - t0:.1f} s ({names})"
        + (f"; killed after 10 s: {', '.join(killed)}" if killed else ""))


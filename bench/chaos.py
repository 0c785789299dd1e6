"""Poison records, malformed requests and SIGKILLs during a multi-stream replay.

    .venv/bin/python bench/chaos.py [--streams 6] [--seconds 40] [--records 1000]
                                    [--requests 1000] [--kill-every-s 6] [--seed 0]
                                    [--limit-s 360]

Loopback only and bounded: a local Tansu broker, `python -m encoder_service` (a tiny JGSE
export, random weights) and `python -m ingest` as processes, an LLM server in this process
(the shipped checkpoint; no request reaches its model), every process stopped by PID at the
end, and the whole run under `--limit-s`.

1. `--streams` synthetic streams at 120 fps are replayed live for `--seconds` into
   mocap.frames (4 partitions), and `--records` malformed frame records
   (tests/fuzz_inputs.py: truncated protobuf, garbage, wrong shapes, NaN/inf, absurd frame
   numbers, 1 MiB+ records and strings, wrong keys, bad fps, ...) are produced among them.
2. Every `--kill-every-s`, in turn, the ingest process or the encoder service is SIGKILLed
   and started again at once.
3. After the replay: windows lost = expected windows (the pure windower over the same
   frames) without features; duplicates = features records beyond one per window; every
   bad record must have a dead letter with an allowed reason.
4. `--requests` malformed requests each to the encoder service and the LLM service: every
   one must get a status other than OK, INTERNAL and UNKNOWN.
Crashes: a process that exited without being killed, or an `ingest_failed` log line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(REPO)  # the packages, not bench/ingest.py

import grpc  # noqa: E402

from ingest.broker import LocalBroker, free_port  # noqa: E402
from ingest.replay import load_streams, replay_to_kafka  # noqa: E402
from ingest.settings import IngestSettings  # noqa: E402
from mochat.log import configure_logging  # noqa: E402
from protos.mochat.v1 import frames_pb2  # noqa: E402
from tests.fuzz_inputs import encoder_requests, frame_records, llm_requests  # noqa: E402
from tests.fuzz_run import (  # noqa: E402
    account_dead_letters,
    call_all,
    produce_records,
    unaccounted,
)
from tests.ingest.helpers import (  # noqa: E402
    FAST_GROUP,
    expected_window_ids,
    motion_file,
    read_topic,
    start_encoder,
    stop_process,
    subprocess_env,
    wait_serving,
)

FPS = 120.0


class Proc:
    """A service process we may SIGKILL; `crashes` counts exits we did not cause."""

    def __init__(self, name: str, start: Any) -> None:
        self.name, self._start = name, start
        self.proc: subprocess.Popen[bytes] = start()
        self.kills = self.crashes = 0

    def check(self) -> None:
        if self.proc.poll() is not None:
            self.crashes += 1
            print(f"{self.name} exited by itself ({self.proc.returncode}); restarting",
                  file=sys.stderr)
            self.proc = self._start()

    def kill_and_restart(self) -> None:
        self.check()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.kills += 1
        self.proc = self._start()


def start_ingest(settings: IngestSettings, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "ingest"], cwd=REPO,
                                env=subprocess_env(settings), stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def export_tiny(out: Path) -> Path:
    code = ("import torch\nfrom mochat.export.onnx import export_onnx\n"
            "from mochat.models import build_encoder, encoder_tiny\n"
            "from mochat.skeleton import SMPL22\ntorch.manual_seed(0)\n"
            f"export_onnx(build_encoder('jgse', encoder_tiny(), SMPL22), {str(out)!r})\n")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, capture_output=True)
    return out


def ingest_settings(bootstrap: str, encoder: str, topics: dict[str, str]) -> IngestSettings:
    tls = {"encoder_channel": {"insecure": True}} \
        if "encoder_channel" in IngestSettings.model_fields else {}
    return IngestSettings(kafka={"bootstrap_servers": bootstrap}, encoder=encoder,
                          frames_topic=topics["frames"], features_topic=topics["features"],
                          dlq_topic=topics["dlq"], group_id="chaos", **tls,
                          **FAST_GROUP)  # type: ignore[arg-type]


async def faults(ingest: Proc, encoder: Proc, address: str, every_s: float,
                 until: asyncio.Task[Any]) -> list[str]:
    """Alternately SIGKILL ingest and the encoder while `until` runs."""
    done: list[str] = []
    while not until.done():
        await asyncio.sleep(every_s)
        if until.done():
            break
        target = ingest if len(done) % 2 == 0 else encoder
        target.kill_and_restart()
        done.append(f"{time.monotonic():.1f} {target.name}")
        if target is encoder:
            await asyncio.to_thread(wait_serving, address, encoder.proc)
        ingest.check()
        encoder.check()
    return done


async def spread(client_kwargs: dict[str, Any], topic: str, records: list[Any],
                 seconds: float) -> list[str]:
    """Produce the bad records in chunks over `seconds`: they arrive among the frames."""
    sources: list[str] = []
    chunks = max(1, int(seconds / 2))
    size = -(-len(records) // chunks)
    for i in range(0, len(records), size):
        sources += await produce_records(client_kwargs, topic, records[i:i + size])
        await asyncio.sleep(seconds / chunks / 2)
    return sources


async def llm_fuzz(requests: list[Any]) -> list[str]:
    """The requests against an LLM server in this process (the shipped checkpoint)."""
    from mochat.pipeline import MoChatPipeline
    from tests.llm_service.conftest import running_server

    model = REPO / "models" / "mochat-smollm2-synth"
    pipeline = MoChatPipeline.from_pretrained(model, max_new_tokens=4)
    async with running_server(pipeline, model) as (server, _), \
            grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        return await call_all(channel, requests)


async def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    t0 = time.monotonic()
    topics = {"frames": "chaos.frames", "features": "chaos.features", "dlq": "chaos.dlq"}
    broker = LocalBroker(topics={topics["frames"]: 4, topics["features"]: 4,
                                 topics["dlq"]: 1}, log_path=work / "tansu.log").start()
    procs: list[Proc] = []
    try:
        model = export_tiny(work / "tiny.onnx")
        port = free_port()
        address = f"127.0.0.1:{port}"
        encoder = Proc("encoder", lambda: start_encoder(model, port, work / "encoder.log"))
        procs.append(encoder)
        await asyncio.to_thread(wait_serving, address, encoder.proc)
        settings = ingest_settings(broker.bootstrap_servers, address, topics)
        ingest = Proc("ingest", lambda: start_ingest(settings, work / "ingest.log"))
        procs.append(ingest)
        frames = int(args.seconds * FPS)
        streams = load_streams([motion_file(work / "m.npy", frames // 6 + 1)],
                               streams=args.streams, fps=FPS)
        want = expected_window_ids(streams, settings)
        bad = frame_records(args.records, seed=args.seed)
        kw = settings.kafka.client_kwargs()
        replay = asyncio.create_task(replay_to_kafka(streams, topics["frames"], kw))
        poison = asyncio.create_task(spread(kw, topics["frames"], bad, args.seconds))
        kills = await faults(ingest, encoder, address, args.kill_every_s, replay)
        stats = await replay
        sources = await poison
        t_replayed = time.monotonic()
        records = await read_topic(
            broker.bootstrap_servers, topics["features"], timeout_s=120.0,
            until=lambda r: want <= {_window_id(x) for x in r})
        t_windows = time.monotonic()
        dlq = await read_topic(broker.bootstrap_servers, topics["dlq"], timeout_s=60.0,
                               until=lambda r: account_dead_letters(
                                   bad, sources, r).accounted == len(bad))
        accounting = account_dead_letters(bad, sources, dlq)
        enc_requests = encoder_requests(args.requests, seed=args.seed)
        async with grpc.aio.insecure_channel(address) as channel:
            enc_codes = await call_all(channel, enc_requests)
        ingest.check()
        encoder.check()
        llm_reqs = llm_requests(args.requests, seed=args.seed)
        llm_codes = await llm_fuzz(llm_reqs)
    finally:
        for p in procs:
            stop_process(p.proc)
        broker.stop()
    got = [_window_id(r) for r in records]
    failed_lines = (work / "ingest.log").read_text(errors="replace").count('"ingest_failed"')
    return {
        "streams": args.streams, "seconds": args.seconds, "frames_sent": stats.frames_sent,
        "kills": dict(Counter(k.split()[1] for k in kills)), "windows_expected": len(want),
        "windows_lost": len(want - set(got)),
        "duplicates": len(got) - len(set(got)), "unexpected": len(set(got) - want),
        "drain_s": round(t_windows - t_replayed, 1),
        "frame_records": {"tried": accounting.tried, "accounted": accounting.accounted,
                          "missing": len(accounting.missing),
                          "wrong_reason": len(accounting.wrong_reason),
                          "reasons": dict(accounting.reasons.most_common())},
        "dead_letters_read": len(dlq),  # more than tried: a restart sends some again
        "encoder_requests": _codes(enc_requests, enc_codes),
        "llm_requests": _codes(llm_reqs, llm_codes),
        "crashes": sum(p.crashes for p in procs) + failed_lines,
        "ingest_failed_lines": failed_lines,
        "seconds_total": round(time.monotonic() - t0, 1),
    }


def _window_id(record: Any) -> str:
    return frames_pb2.MotionFeatures.FromString(record.value).window_id


def _codes(requests: list[Any], codes: list[str]) -> dict[str, Any]:
    bad = unaccounted(requests, codes)
    return {"tried": len(requests), "accounted": len(requests) - len(bad),
            "codes": dict(Counter(codes).most_common()), "unaccounted": bad[:10]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--streams", type=int, default=6)
    p.add_argument("--seconds", type=float, default=40.0, help="replay length per stream")
    p.add_argument("--records", type=int, default=1000, help="malformed frame records")
    p.add_argument("--requests", type=int, default=1000, help="malformed requests each")
    p.add_argument("--kill-every-s", type=float, default=6.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit-s", type=float, default=360.0, help="the whole run's limit")
    args = p.parse_args()
    configure_logging("warning", stream=sys.stderr)  # the in-process LLM server's lines
    with tempfile.TemporaryDirectory(prefix="chaos-") as tmp:
        result = asyncio.run(asyncio.wait_for(run(args, Path(tmp)), args.limit_s))
    sys.stdout.write(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()

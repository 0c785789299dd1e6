"""LLM service under overload: capacity, then 4x capacity with short deadlines.

    .venv/bin/python bench/chaos_llm.py [--model DIR] [--capacity-s 25] [--overload-s 45]
                                        [--factor 4] [--live-share 0.1] [--deadline-x 3]

Loopback only (the server runs in this process on 127.0.0.1, clients are grpc.aio stubs on
the same loop), bounded in count and time: every phase has a wall limit and every request a
deadline, so the run stops by itself. The model is the one `bench/llm_service.py` loads (the
shipped checkpoint, else an untrained stand-in), over 200-frame windows of synthetic motions.

Once with admission on and once off, on a fresh server each time:
1. capacity: `max_batch` clients in a closed loop without deadlines for `--capacity-s`: the
   queue never holds more than one batch, so answers/s is what the model sustains; the p50
   answer latency there is one batch's time, `t_batch`.
2. overload right after: open-loop Poisson arrivals at `--factor` x that capacity for
   `--overload-s`, a `--live-share` of them LIVE, the rest BATCH, each with a deadline of
   `--deadline-x` x t_batch, from 128 client identities (x-client-id). A LIVE question
   waits for the running batch and then its own, so a deadline under ~2 x t_batch cannot
   be met by any scheduler that does not preempt a running decode.
3. capacity again, the same way: the machine is shared and its speed drifts, so the
   overload is held against the mean of the capacity before and after it.
   goodput = answers (all within their deadline: the server never answers late) per second,
   from the first arrival to the last answer (the drain after arrivals stop included) /
   that capacity; LIVE answered = LIVE answers / LIVE sent.
Peak RSS is the process's (server, model and clients), sampled every 0.25 s.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import importlib.util
import json
import os
import random
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil

REPO = Path(__file__).resolve().parents[1]
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(REPO)  # the `llm_service` package, not bench/llm_service.py

CLIENTS = 128
MAX_NEW_TOKENS = 32
QUESTIONS = ["Describe the motion of the person.", "What does the person do?",
             "When does the person jump?", "From which frame does the person raise the arm?"]


def _bench_llm() -> Any:
    """bench/llm_service.py as a module (its model loading and windows)."""
    spec = importlib.util.spec_from_file_location("bench_llm_service",
                                                  REPO / "bench" / "llm_service.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class RssSampler:
    def __init__(self) -> None:
        self.peak = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        proc = psutil.Process()
        while True:
            self.peak = max(self.peak, proc.memory_info().rss)
            await asyncio.sleep(0.25)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


async def start_server(pipeline: Any, feats: list[np.ndarray], *, admission: bool) -> Any:
    from llm_service.server import LlmServer
    from llm_service.settings import LlmSettings
    from llm_service.store import MotionView, StoredWindow

    # plaintext on loopback (the development flag, where this version has one)
    plain = {"insecure": True} if "insecure" in LlmSettings.model_fields else {}
    settings = LlmSettings(model=REPO, port=0, consume=False, max_batch=8, max_queue=64,
                           max_new_tokens=MAX_NEW_TOKENS, admission=admission,
                           client_id_metadata="x-client-id", log_level="warning", **plain)
    server = LlmServer(settings, pipeline=pipeline)
    await server.start()
    now_ms = int(time.time() * 1000)
    for i, f in enumerate(feats):
        server.runtime.store.add(StoredWindow(MotionView(f"cam{i}", (f"cam{i}:0",), 0, 20.0, f),
                                              now_ms))
    return server


async def ask(stub: Any, i: int, streams: int, *, priority: int = 0,
              deadline_s: float = 120.0) -> tuple[str, float]:
    """One question -> (status code name, seconds it took)."""
    import grpc

    from protos.mochat.v1 import llm_pb2

    request = llm_pb2.AskRequest(stream_id=f"cam{i % streams}", question=QUESTIONS[i % 4],
                                 priority=priority)
    started = time.perf_counter()
    try:
        await stub.Ask(request, timeout=deadline_s,
                       metadata=(("x-client-id", f"client{i % CLIENTS}"),))
        code = "OK"
    except grpc.aio.AioRpcError as err:
        code = err.code().name
    return code, time.perf_counter() - started


async def capacity_phase(stub: Any, streams: int, clients: int, seconds: float
                         ) -> dict[str, Any]:
    latencies: list[float] = []
    codes: collections.Counter[str] = collections.Counter()
    stop_at = time.perf_counter() + seconds

    async def client(c: int) -> None:
        n = c
        while time.perf_counter() < stop_at:
            code, s = await ask(stub, n, streams)
            codes[code] += 1
            if code == "OK":
                latencies.append(s)
            n += clients

    started = time.perf_counter()
    await asyncio.gather(*(client(c) for c in range(clients)))
    wall = time.perf_counter() - started
    return {"answered": len(latencies), "wall_s": wall,
            "answers_per_s": len(latencies) / wall, "codes": dict(codes),
            "t_batch_p50_s": float(np.percentile(latencies, 50)),
            "p99_s": float(np.percentile(latencies, 99))}


async def overload_phase(stub: Any, server: Any, streams: int, *, rate: float,
                         seconds: float, live_share: float, deadline_s: float,
                         seed: int = 0) -> dict[str, Any]:
    from protos.mochat.v1 import llm_pb2

    rng = random.Random(seed)
    tasks: list[tuple[bool, asyncio.Task[tuple[str, float]]]] = []
    finished: dict[int, float] = {}  # id(task) -> when it ended
    started = time.perf_counter()
    i, next_at = 0, 0.0
    while next_at < seconds:  # Poisson arrivals at `rate` for `seconds`
        await asyncio.sleep(max(started + next_at - time.perf_counter(), 0.0))
        live = rng.random() < live_share
        priority = llm_pb2.PRIORITY_LIVE if live else llm_pb2.PRIORITY_BATCH
        task = asyncio.create_task(ask(stub, i, streams, priority=priority,
                                       deadline_s=deadline_s))
        task.add_done_callback(lambda t: finished.__setitem__(id(t), time.perf_counter()))
        tasks.append((live, task))
        i += 1
        next_at += rng.expovariate(rate)
    done, pending = await asyncio.wait([t for _, t in tasks], timeout=deadline_s + 10)
    for t in pending:  # cannot happen with deadlines; bounded all the same
        t.cancel()
    results = [(live, t.result() if t in done else ("UNFINISHED", 0.0)) for live, t in tasks]
    last_answer_s = max((finished[id(t)] for _, t in tasks
                         if t in done and t.result()[0] == "OK"), default=started) - started
    codes = collections.Counter(code for _, (code, _) in results)
    live_codes = collections.Counter(code for live, (code, _) in results if live)
    answered = codes["OK"]
    live_sent = sum(1 for live, _ in results if live)
    latencies = [s for _, (code, s) in results if code == "OK"]
    outcomes = {o: server.metrics.value("mochat_llm_questions_total", outcome=o)
                for o in ("answered", "expired", "unmeetable", "displaced", "stopped", "late",
                          "abandoned")}
    m, times = server.metrics, server.engine.times
    batches = m.value("mochat_llm_batch_questions_count")
    diagnosis = {"batches": batches,  # the warm-up batch included
                 "mean_batch": m.value("mochat_llm_batch_questions_sum") / max(batches, 1),
                 "prefill_s": times.prefill_s, "step_s": times.step_s,
                 "used_share": times.used_share}
    return {"sent": len(results), "rate_per_s": rate, "seconds": seconds,
            "last_answer_s": last_answer_s, "answered": answered,
            "answered_per_s": answered / max(last_answer_s, seconds),
            "live_sent": live_sent, "live_answered": live_codes["OK"],
            "live_answered_share": live_codes["OK"] / max(live_sent, 1),
            "codes": dict(codes), "live_codes": dict(live_codes),
            "answer_p50_s": float(np.percentile(latencies, 50)) if latencies else None,
            "answer_p99_s": float(np.percentile(latencies, 99)) if latencies else None,
            "server_outcomes": outcomes, "server": diagnosis}


async def run(args: argparse.Namespace, pipeline: Any, feats: list[np.ndarray]) -> dict:
    """For admission on, then off: a fresh server, its capacity, then the overload at
    `--factor` x that capacity (each row against the capacity measured just before it, as
    the shared machine's speed drifts)."""
    import grpc

    from protos.mochat.v1 import llm_pb2_grpc

    rss = RssSampler()
    rss.start()
    results: dict[str, Any] = {}
    try:
        for admission in (True, False):
            key = "admission_on" if admission else "admission_off"
            server = await start_server(pipeline, feats, admission=admission)
            try:
                async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
                    stub = llm_pb2_grpc.LlmServiceStub(channel)
                    # warm-up: a full batch gives the first estimates
                    await asyncio.gather(*(ask(stub, i, len(feats)) for i in range(8)))
                    load = os.getloadavg()[0]
                    cap = await capacity_phase(stub, len(feats), 8, args.capacity_s)
                    print(key, "capacity before", json.dumps(cap), flush=True)
                    deadline_s = args.deadline_x * cap["t_batch_p50_s"]
                    out = await overload_phase(
                        stub, server, len(feats), rate=args.factor * cap["answers_per_s"],
                        seconds=args.overload_s, live_share=args.live_share,
                        deadline_s=deadline_s)
                    after = await capacity_phase(stub, len(feats), 8, args.capacity_s)
                    print(key, "capacity after", json.dumps(after), flush=True)
            finally:
                await server.stop(grace_s=5)
            # the machine is shared: its speed drifts, so the capacity the overload is
            # held against is the mean of the one measured before it and the one after
            capacity = (cap["answers_per_s"] + after["answers_per_s"]) / 2
            out["goodput"] = out["answered_per_s"] / capacity
            results[key] = out | {"capacity": cap, "capacity_after": after,
                                  "capacity_per_s": capacity, "deadline_s": deadline_s,
                                  "load_before": load, "load_after": os.getloadavg()[0]}
            print(key, json.dumps(out), flush=True)
    finally:
        rss.stop()
    results["peak_rss_mb"] = max(rss.peak, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                 * 1024) / 2**20
    return results


def markdown(r: dict[str, Any], args: argparse.Namespace) -> str:
    lines = [f"offered {args.factor:g}x capacity for {args.overload_s:g} s, "
             f"{args.live_share:.0%} LIVE, deadline {args.deadline_x:g} x t_batch", "",
             "| overload | capacity before / after | t_batch p50 | deadline | sent | answered | "
             "goodput | "
             "LIVE answered | answer p50 | DEADLINE_EXCEEDED | RESOURCE_EXHAUSTED | "
             "mean batch | stopped mid-decode |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for key in ("admission_on", "admission_off"):
        v = r[key]
        cap = v["capacity"]
        p50 = "-" if v["answer_p50_s"] is None else f"{v['answer_p50_s']:.2f} s"
        lines.append(f"| {key.replace('_', ' ')} | {cap['answers_per_s']:.2f} / "
                     f"{v['capacity_after']['answers_per_s']:.2f} /s | "
                     f"{cap['t_batch_p50_s']:.2f} s | {v['deadline_s']:.2f} s | {v['sent']} | "
                     f"{v['answered']} | {v['goodput']:.0%} | {v['live_answered']}/"
                     f"{v['live_sent']} ({v['live_answered_share']:.0%}) | {p50} | "
                     f"{v['codes'].get('DEADLINE_EXCEEDED', 0)} | "
                     f"{v['codes'].get('RESOURCE_EXHAUSTED', 0)} | "
                     f"{v['server']['mean_batch']:.1f} | "
                     f"{v['server_outcomes']['stopped']:.0f} |")
    lines.append(f"\npeak RSS {r['peak_rss_mb']:.0f} MB")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=REPO / "models" / "mochat-smollm2-synth")
    p.add_argument("--capacity-s", type=float, default=25.0)
    p.add_argument("--overload-s", type=float, default=45.0)
    p.add_argument("--factor", type=float, default=4.0, help="offered load / capacity")
    p.add_argument("--live-share", type=float, default=0.1)
    p.add_argument("--deadline-x", type=float, default=3.0, help="deadline / t_batch")
    p.add_argument("--pool-frames", type=int, default=4, help="untrained fallback only")
    args = p.parse_args()
    import torch

    from mochat.log import configure_logging

    configure_logging("error")  # refusals are the point here; their log lines are not
    started = time.perf_counter()
    bench = _bench_llm()
    pipeline, which = bench.load_pipeline(args.model, MAX_NEW_TOKENS, args.pool_frames)
    feats = bench.windows(pipeline, 8)
    print(f"model: {which}; torch threads {torch.get_num_threads()}", flush=True)
    results = asyncio.run(run(args, pipeline, feats))
    results.update(model=which, torch_threads=torch.get_num_threads(),
                   seconds=time.perf_counter() - started)
    print(json.dumps(results, indent=2))
    print(markdown(results, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""LLM service on loopback: answer latency, and questions/s with batching on vs off.

    .venv/bin/python bench/llm_service.py [--model DIR] [--clients 8] [--rounds 3]

Model: the reference checkpoint `models/mochat-smollm2-synth` when it exists (or --model),
else an *untrained* MoChat around SmolLM2-135M-Instruct (`load_llm("smollm2")`) with a
random tiny JGSE encoder and the reference recipe's pooling (`--pool-frames 4`: 200 frames
-> 50 motion tokens) - the same shapes and code path, but its answers are not about the
motion. The report says which one ran.

Windows: 10 s (200 frames at 20 fps) of synthetic motions (`mochat.synth`), encoded by the
model's encoder and put straight into the server's feature store (Kafka is not what is
measured here). The server runs in this process (grpc.aio on 127.0.0.1, the model in its
worker thread), clients are grpc.aio stubs on the same loop; all share the machine's cores.

1. latency: one client asks `--latency-questions` caption and as many grounding questions,
   one at a time (each answered alone). Time to first token is the server's measurement
   from request arrival (Answer.latency); the full-answer latency is measured by the client.
2. throughput: `--clients` clients each ask `--rounds` questions in a closed loop (caption
   and grounding alternating), against a server with batching (max_batch = clients) and
   then one without; questions/s = answered / wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
# Run as a script, this file's directory comes first on sys.path and this file's name would
# shadow the `llm_service` package; put the repository there instead.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(REPO)

FRAMES, FPS = 200, 20.0
CAPTION = ["Describe the motion of the person.", "What does the person do?"]
GROUNDING = ["When does the person jump?", "From which frame does the person raise the arm?"]


def load_pipeline(model: Path, max_new_tokens: int, pool_frames: int) -> tuple[Any, str]:
    import torch

    from mochat.pipeline import MoChatPipeline

    if (model / "mochat_config.json").is_file():
        return MoChatPipeline.from_pretrained(model, max_new_tokens=max_new_tokens), \
            f"checkpoint {model}"
    from mochat.models import build_encoder, encoder_tiny
    from mochat.models.llm import load_llm
    from mochat.models.mochat import MoChat, MoChatConfig
    from mochat.skeleton import SMPL22

    torch.manual_seed(0)
    llm, tokenizer = load_llm("smollm2")
    encoder = build_encoder("jgse", encoder_tiny(), SMPL22)
    config = MoChatConfig(llm="smollm2", pool_frames=pool_frames)
    mochat = MoChat(config, encoder, llm, tokenizer)
    return MoChatPipeline(mochat, max_new_tokens=max_new_tokens), \
        (f"untrained MoChat (no checkpoint at {model}): SmolLM2-135M-Instruct + random tiny "
         f"JGSE, pool_frames={pool_frames}")


def windows(pipeline: Any, count: int) -> list[np.ndarray]:
    """`count` 200-frame feature windows (T, D) of synthetic motions."""
    from mochat.synth import synthesize_motion

    rng = np.random.default_rng(0)
    out = []
    for i in range(count):
        joints = synthesize_motion(f"bench{i}", rng).joints
        if joints.shape[0] < FRAMES:  # hold the last pose: a window of exactly 10 s
            pad = np.repeat(joints[-1:], FRAMES - joints.shape[0], axis=0)
            joints = np.concatenate([joints, pad])
        feats = pipeline.features(joints[:FRAMES], pipeline.model.encoder.layout)
        out.append(feats.numpy())
    return out


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


async def start_server(pipeline: Any, feats: list[np.ndarray], *, batching: bool,
                       max_batch: int, max_new_tokens: int) -> Any:
    from llm_service.server import LlmServer
    from llm_service.settings import LlmSettings
    from llm_service.store import MotionView, StoredWindow

    settings = LlmSettings(model=REPO, port=0, consume=False, batching=batching,
                           max_batch=max_batch, max_new_tokens=max_new_tokens,
                           max_queue=256, log_level="warning", insecure=True)
    server = LlmServer(settings, pipeline=pipeline)
    await server.start()
    now_ms = int(time.time() * 1000)
    for i, f in enumerate(feats):
        view = MotionView(f"cam{i}", (f"cam{i}:0",), 0, FPS, f)
        server.runtime.store.add(StoredWindow(view, now_ms))
    return server


async def ask(stub: Any, stream: str, question: str) -> tuple[Any, float]:
    from protos.mochat.v1 import llm_pb2

    started = time.perf_counter()
    answer = await stub.Ask(llm_pb2.AskRequest(stream_id=stream, question=question),
                            timeout=600)
    return answer, time.perf_counter() - started


async def latency_phase(stub: Any, streams: int, n: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind, questions in (("caption", CAPTION), ("grounding", GROUNDING)):
        ttft, total, tokens = [], [], []
        for i in range(n):
            answer, seconds = await ask(stub, f"cam{i % streams}", questions[i % 2])
            ttft.append(answer.latency.time_to_first_token_ms / 1000)
            total.append(seconds)
            tokens.append(answer.latency.generated_tokens)
        out[kind] = {"n": n, "ttft_p50_s": percentile(ttft, 50),
                     "ttft_p99_s": percentile(ttft, 99), "total_p50_s": percentile(total, 50),
                     "total_p99_s": percentile(total, 99),
                     "mean_tokens": float(np.mean(tokens)), "example": answer.text[:80]}
    return out


async def throughput_phase(stub: Any, clients: int, rounds: int) -> dict[str, Any]:
    totals: list[float] = []
    batches: list[int] = []

    async def client(c: int) -> None:
        for r in range(rounds):
            questions = CAPTION if (c + r) % 2 == 0 else GROUNDING
            answer, seconds = await ask(stub, f"cam{c}", questions[r % 2])
            totals.append(seconds)
            batches.append(answer.latency.batch_size)

    started = time.perf_counter()
    await asyncio.gather(*(client(c) for c in range(clients)))
    wall = time.perf_counter() - started
    return {"questions": len(totals), "wall_s": wall, "questions_per_s": len(totals) / wall,
            "total_p50_s": percentile(totals, 50), "total_p99_s": percentile(totals, 99),
            "mean_batch": float(np.mean(batches))}


async def run(args: argparse.Namespace, pipeline: Any, feats: list[np.ndarray]) -> dict:
    import grpc

    from protos.mochat.v1 import llm_pb2_grpc

    results: dict[str, Any] = {}
    for batching in (True, False):
        server = await start_server(pipeline, feats, batching=batching,
                                    max_batch=args.clients, max_new_tokens=args.max_new_tokens)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
                stub = llm_pb2_grpc.LlmServiceStub(channel)
                await ask(stub, "cam0", CAPTION[0])  # warm-up
                if batching:
                    results["latency"] = await latency_phase(stub, len(feats),
                                                             args.latency_questions)
                key = "batching_on" if batching else "batching_off"
                results[key] = await throughput_phase(stub, args.clients, args.rounds)
                print(key, json.dumps(results[key]), flush=True)
        finally:
            await server.stop(grace_s=5)
    on, off = results["batching_on"], results["batching_off"]
    results["speedup"] = on["questions_per_s"] / off["questions_per_s"]
    return results


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=REPO / "models" / "mochat-smollm2-synth")
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--rounds", type=int, default=3, help="questions per client")
    p.add_argument("--latency-questions", type=int, default=10, help="of each kind")
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--pool-frames", type=int, default=4, help="untrained fallback only")
    args = p.parse_args()
    import torch

    from mochat.log import configure_logging

    configure_logging("warning")  # the server's per-question logs would drown the report
    started = time.perf_counter()
    pipeline, which = load_pipeline(args.model, args.max_new_tokens, args.pool_frames)
    feats = windows(pipeline, args.clients)
    print(f"model: {which}; torch threads {torch.get_num_threads()}; "
          f"{platform.processor() or platform.machine()}", flush=True)
    results = asyncio.run(run(args, pipeline, feats))
    results.update(model=which, torch_threads=torch.get_num_threads(),
                   max_new_tokens=args.max_new_tokens, frames=FRAMES,
                   seconds=time.perf_counter() - started)
    print(json.dumps(results, indent=2))
    print(markdown(results, args))
    return 0


def markdown(r: dict[str, Any], args: argparse.Namespace) -> str:
    """The tables for BENCHMARKS.md."""
    lines = ["| question (alone) | n | TTFT p50 | TTFT p99 | answer p50 | answer p99 | tokens |",
             "|---|---|---|---|---|---|---|"]
    for kind, v in r["latency"].items():
        lines.append(f"| {kind} | {v['n']} | {v['ttft_p50_s']:.2f} s | {v['ttft_p99_s']:.2f} s "
                     f"| {v['total_p50_s']:.2f} s | {v['total_p99_s']:.2f} s "
                     f"| {v['mean_tokens']:.1f} |")
    lines += ["", f"| {args.clients} clients | questions | questions/s | answer p50 | "
              "answer p99 | mean batch |", "|---|---|---|---|---|---|"]
    for key in ("batching_on", "batching_off"):
        v = r[key]
        lines.append(f"| {key.replace('_', ' ')} | {v['questions']} | "
                     f"{v['questions_per_s']:.2f} | {v['total_p50_s']:.2f} s | "
                     f"{v['total_p99_s']:.2f} s | {v['mean_batch']:.1f} |")
    lines.append(f"\nbatching speedup: {r['speedup']:.2f}x")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

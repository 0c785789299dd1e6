"""LLM service on loopback: answer latency, and questions/s of the continuous scheduler
beside the static one (batching on and off), in one run.

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

1. latency (each scheduler): one client asks `--latency-questions` caption and as many
   grounding questions, one at a time (each answered alone). Time to first token is the
   server's measurement from request arrival (Answer.latency); the full-answer latency is
   measured by the client. Continuous: the windows repeat, so most prefixes are cached.
2. throughput: `--clients` clients each ask `--rounds` questions about their own window
   in a closed loop (caption and grounding alternating), against servers with the static
   scheduler (max_batch = clients), the continuous one (the same rows; with and without
   its prefix cache) and the static one without batching; questions/s = answered / wall.
3. cached window (continuous): `--cache-windows` windows never asked about before; on
   each a first question (its prefix is computed and cached) then a second one (only its
   own tokens are prefilled): server-measured TTFT of both, and the prefix cache's bytes
   per window.
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


async def start_server(pipeline: Any, feats: list[np.ndarray], *, scheduler: str,
                       batching: bool, max_batch: int, max_new_tokens: int,
                       prefix_cache_mb: float = 256.0) -> Any:
    from llm_service.server import LlmServer
    from llm_service.settings import LlmSettings
    from llm_service.store import MotionView, StoredWindow

    settings = LlmSettings(model=REPO, port=0, consume=False, batching=batching,
                           scheduler=scheduler, prefix_cache_mb=prefix_cache_mb,
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


# (key, scheduler, batching, prefix cache MB) of the throughput runs
SERVERS = (("static_batched", "static", True, 0.0),
           ("continuous", "continuous", True, 256.0),
           ("continuous_no_prefix_cache", "continuous", True, 0.0),
           ("static_unbatched", "static", False, 0.0))


async def cached_window_phase(stub: Any, server: Any, first_window: int, n: int
                              ) -> dict[str, Any]:
    """A first and a second question on each of `n` windows not asked about before."""
    first, second = [], []
    for i in range(first_window, first_window + n):
        for k, out in enumerate((first, second)):  # the two caption questions, in turn
            answer, _ = await ask(stub, f"cam{i}", CAPTION[(i + k) % 2])
            out.append(answer.latency.time_to_first_token_ms / 1000)
    cache = server.engine.decoder.prefix_cache
    return {"n": n, "first_ttft_p50_s": percentile(first, 50),
            "second_ttft_p50_s": percentile(second, 50),
            "ratio": percentile(second, 50) / percentile(first, 50),
            "entries": len(cache), "bytes": cache.bytes,
            "tokens_per_entry": cache.tokens / max(len(cache), 1),
            "bytes_per_entry": cache.bytes / max(len(cache), 1),
            "bytes_per_token": cache.bytes / max(cache.tokens, 1),
            "hits": cache.hits, "misses": cache.misses}


async def run(args: argparse.Namespace, pipeline: Any, feats: list[np.ndarray]) -> dict:
    import grpc

    from protos.mochat.v1 import llm_pb2_grpc

    results: dict[str, Any] = {"latency": {}}
    for key, scheduler, batching, cache_mb in SERVERS:
        server = await start_server(pipeline, feats, scheduler=scheduler, batching=batching,
                                    max_batch=args.clients, max_new_tokens=args.max_new_tokens,
                                    prefix_cache_mb=cache_mb)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
                stub = llm_pb2_grpc.LlmServiceStub(channel)
                await ask(stub, "cam0", CAPTION[0])  # warm-up
                if key in ("static_batched", "continuous"):
                    results["latency"][scheduler] = await latency_phase(
                        stub, args.clients, args.latency_questions)
                results[key] = await throughput_phase(stub, args.clients, args.rounds)
                print(key, json.dumps(results[key]), flush=True)
                if key == "continuous":
                    results["cached_window"] = await cached_window_phase(
                        stub, server, args.clients, args.cache_windows)
                    print("cached_window", json.dumps(results["cached_window"]), flush=True)
        finally:
            await server.stop(grace_s=5)
    base = results["static_batched"]["questions_per_s"]
    results["speedup_vs_static_batched"] = {
        key: results[key]["questions_per_s"] / base for key, *_ in SERVERS}
    return results


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=REPO / "models" / "mochat-smollm2-synth")
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--rounds", type=int, default=3, help="questions per client")
    p.add_argument("--latency-questions", type=int, default=10, help="of each kind")
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--pool-frames", type=int, default=4, help="untrained fallback only")
    p.add_argument("--cache-windows", type=int, default=10,
                   help="fresh windows of the cached-window phase")
    args = p.parse_args()
    import torch

    from mochat.log import configure_logging

    configure_logging("warning")  # the server's per-question logs would drown the report
    started = time.perf_counter()
    pipeline, which = load_pipeline(args.model, args.max_new_tokens, args.pool_frames)
    feats = windows(pipeline, args.clients + args.cache_windows)
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
    lines = ["| question (alone) | scheduler | n | TTFT p50 | TTFT p99 | answer p50 | "
             "answer p99 | tokens |", "|---|---|---|---|---|---|---|---|"]
    for scheduler, kinds in r["latency"].items():
        for kind, v in kinds.items():
            lines.append(f"| {kind} | {scheduler} | {v['n']} | {v['ttft_p50_s']:.2f} s | "
                         f"{v['ttft_p99_s']:.2f} s | {v['total_p50_s']:.2f} s | "
                         f"{v['total_p99_s']:.2f} s | {v['mean_tokens']:.1f} |")
    lines += ["", f"| {args.clients} clients | questions | questions/s | vs static batched | "
              "answer p50 | answer p99 | mean batch |", "|---|---|---|---|---|---|---|"]
    for key, *_ in SERVERS:
        v = r[key]
        lines.append(f"| {key.replace('_', ' ')} | {v['questions']} | "
                     f"{v['questions_per_s']:.2f} | "
                     f"{r['speedup_vs_static_batched'][key]:.2f}x | {v['total_p50_s']:.2f} s | "
                     f"{v['total_p99_s']:.2f} s | {v['mean_batch']:.1f} |")
    c = r["cached_window"]
    lines += ["", f"cached window ({c['n']} fresh windows): first question TTFT p50 "
              f"{c['first_ttft_p50_s']:.3f} s, second {c['second_ttft_p50_s']:.3f} s "
              f"({100 * c['ratio']:.0f} %); prefix cache {c['bytes_per_entry'] / 1e6:.2f} MB "
              f"per window ({c['tokens_per_entry']:.0f} tokens x {c['bytes_per_token']:.0f} "
              "bytes)"]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

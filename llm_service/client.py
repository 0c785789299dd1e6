"""`mochat ask`: the terminal client of the LLM service (grpc and protos only, no torch).

    mochat ask --server 127.0.0.1:50052 --stream player-7 "what did the player just do?"
    mochat ask --stream player-7 --new-session "when did the jump start?"   # prints session
    mochat ask --session SESSION "and which leg did it start from?"
    mochat ask --upload walk.npy --fps 20 --frames 0:99 "describe the motion" --json
    mochat ask --server llm.example:443 --ca-file ca.crt --token-file ~/.mochat-token ...
    mochat ask --server 127.0.0.1:50052 --insecure ...        # a development server

TLS is the default; the bearer token comes from --token-file or MOCHAT_ASK_TOKEN.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

import grpc

from mochat.security import RefuseSecret
from protos.mochat.v1 import llm_pb2, llm_pb2_grpc

TOKEN_ENV = "MOCHAT_ASK_TOKEN"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("question", help="the question, e.g. \"when did the jump start?\"")
    p.add_argument("--server", default="127.0.0.1:50052",
                   help="LLM service HOST:PORT (default: %(default)s)")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--stream", help="ask about this live stream")
    target.add_argument("--session", help="ask within this session (keeps history)")
    target.add_argument("--upload", help="a motion file (.npy (T, J, 3) or .bvh) to upload "
                        "and ask about (opens a session)")
    p.add_argument("--new-session", action="store_true",
                   help="with --stream: open a session first and print its id")
    p.add_argument("--layout", default=None,
                   help="skeleton of an uploaded file: a layout name or a layout file "
                        "(default: found from a BVH's joints; smpl22 for .npy)")
    p.add_argument("--fps", type=float, default=None,
                   help="frame rate of an uploaded file (default: the file's own; 20 for .npy)")
    selector = p.add_mutually_exclusive_group()
    selector.add_argument("--frames", help="FIRST:LAST absolute frames to ask about (default: "
                          "in a session, the range its last question named; else the "
                          "stream's latest window)")
    selector.add_argument("--times", help="START_US:END_US capture times (microseconds since "
                          "the Unix epoch) to ask about; kept for the session like --frames")
    p.add_argument("--priority", choices=("live", "batch"), default="live",
                   help="queue class: live questions go before batch ones (default: %(default)s)")
    p.add_argument("--max-new-tokens", type=int, default=0,
                   help="longest answer in tokens; 0 = the service's default (default: 0)")
    p.add_argument("--timeout", type=float, default=60.0,
                   help="deadline in seconds (default: %(default)s)")
    p.add_argument("--tokens", action="store_true", help="print text as it is generated")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    g = p.add_argument_group("security", "TLS (the default) and the bearer token; the token "
                             f"comes from --token-file or the {TOKEN_ENV} variable, never "
                             "from the command line")
    g.add_argument("--ca-file", help="PEM CA of the server's certificate (default: the "
                   "system roots)")
    g.add_argument("--cert-file", help="PEM client certificate (mutual TLS)")
    g.add_argument("--key-file", help="PEM client key (mutual TLS)")
    g.add_argument("--server-name", help="name to check the server's certificate against, "
                   "when it is not the --server host")
    g.add_argument("--token-file", help="file holding the bearer token")
    g.add_argument("--token", action=RefuseSecret, instead=f"--token-file or {TOKEN_ENV}")
    g.add_argument("--insecure", action="store_true",
                   help="plaintext, to a loopback --server only (development)")


def _pair(text: str, flag: str) -> tuple[int, int]:
    try:
        a, b = (int(v) for v in text.split(":"))
    except ValueError:
        raise SystemExit(f"mochat ask: error: {flag} expects A:B, got {text!r}") from None
    return a, b


def _upload(args: argparse.Namespace) -> llm_pb2.UploadedSequence:
    from mochat.skeleton import SMPL22, load_motion
    from protos.convert import array_to_proto

    # the file in the model's layout, y up, metres, at its own rate: the service resamples
    joints, fps = load_motion(args.upload, args.layout, fps=args.fps)
    seq = llm_pb2.UploadedSequence(layout=SMPL22.name, fps=fps)
    array_to_proto(joints, seq.joints)  # (T, J, 3)
    return seq


def build_request(args: argparse.Namespace, session_id: str | None) -> llm_pb2.AskRequest:
    request = llm_pb2.AskRequest(question=args.question, max_new_tokens=args.max_new_tokens,
                                 priority=llm_pb2.PRIORITY_BATCH if args.priority == "batch"
                                 else llm_pb2.PRIORITY_LIVE)
    if session_id:
        request.session_id = session_id
    else:
        request.stream_id = args.stream
    if args.frames:
        request.frames.first_frame, request.frames.last_frame = _pair(args.frames, "--frames")
    if args.times:
        request.times.start_time_us, request.times.end_time_us = _pair(args.times, "--times")
    return request


def answer_dict(answer: llm_pb2.Answer) -> dict[str, Any]:
    """Answer -> plain JSON (int64 stay numbers, unlike MessageToDict)."""
    w, lat = answer.window, answer.latency
    return {
        "session_id": answer.session_id, "turn": answer.turn, "text": answer.text,
        "spans": [{"first_frame": s.first_frame, "last_frame": s.last_frame,
                   "first_capture_time_us": s.first_capture_time_us,
                   "last_capture_time_us": s.last_capture_time_us} for s in answer.spans],
        "window": {"stream_id": w.stream_id, "window_ids": list(w.window_ids),
                   "first_frame": w.first_frame, "last_frame": w.last_frame,
                   "fps": round(w.fps, 3), "first_capture_time_us": w.first_capture_time_us,
                   "last_capture_time_us": w.last_capture_time_us},
        "latency": {"queue_wait_ms": round(lat.queue_wait_ms, 2),
                    "time_to_first_token_ms": round(lat.time_to_first_token_ms, 2),
                    "total_ms": round(lat.total_ms, 2), "generated_tokens": lat.generated_tokens,
                    "tokens_per_s": round(lat.tokens_per_s, 2), "batch_size": lat.batch_size},
    }


def capture_time(time_us: int) -> str:
    """Epoch microseconds -> "2026-12-02 12:28:14.123 UTC"."""
    moment = datetime.fromtimestamp(time_us / 1e6, tz=UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d} UTC"


def _captured(first_us: int, last_us: int) -> str:
    """ " (captured A to B)", or "" for a stream without capture times."""
    if not first_us:
        return ""
    first, last = capture_time(first_us), capture_time(last_us)
    if first[:10] == last[:10]:  # same day: the time of day is enough for the second
        last = last[11:]
    return f" (captured {first} to {last})"


def _show(answer: llm_pb2.Answer, streamed: bool) -> None:
    out = sys.stdout
    if not streamed:
        out.write(f"{answer.text}\n")
    for span in answer.spans:
        out.write(f"  span: frames {span.first_frame}-{span.last_frame}"
                  + _captured(span.first_capture_time_us, span.last_capture_time_us) + "\n")
    w, lat = answer.window, answer.latency
    out.write(f"  about: {w.stream_id} frames {w.first_frame}-{w.last_frame}"
              + _captured(w.first_capture_time_us, w.last_capture_time_us) + "\n")
    out.write(f"  took {lat.total_ms:.0f} ms (first token {lat.time_to_first_token_ms:.0f} ms, "
              f"{lat.generated_tokens} tokens, batch of {lat.batch_size})\n")


def channel_security(args: argparse.Namespace) -> Any:
    """The ChannelSecurity of the flags (the token from --token-file or MOCHAT_ASK_TOKEN)."""
    import os

    from pydantic import SecretStr

    from mochat.security import ChannelSecurity

    env_token = os.environ.get(TOKEN_ENV) if args.token_file is None else None
    token = SecretStr(env_token) if env_token else None
    return ChannelSecurity(insecure=args.insecure, ca_file=args.ca_file,
                           cert_file=args.cert_file, key_file=args.key_file,
                           server_name=args.server_name, token_file=args.token_file,
                           token=token)


def _ask(stub: llm_pb2_grpc.LlmServiceStub, request: llm_pb2.AskRequest,
         args: argparse.Namespace, metadata: Any = ()) -> llm_pb2.Answer:
    if not args.tokens:
        return stub.Ask(request, timeout=args.timeout, metadata=metadata)
    answer = None
    for chunk in stub.AskStream(request, timeout=args.timeout, metadata=metadata):
        if chunk.WhichOneof("chunk") == "text_delta" and not args.json:
            sys.stdout.write(chunk.text_delta)
            sys.stdout.flush()
        elif chunk.WhichOneof("chunk") == "answer":
            answer = chunk.answer
    if not args.json:
        sys.stdout.write("\n")
    if answer is None:
        raise RuntimeError("the stream ended without an answer")
    return answer


def run(args: argparse.Namespace) -> int:
    if args.new_session and not args.stream:
        sys.stderr.write("mochat ask: error: --new-session goes with --stream\n")
        return 2
    from mochat.errors import ConfigError

    try:
        security = channel_security(args)
        metadata = security.metadata()
        channel = security.sync_channel(args.server)
    except ConfigError as err:
        sys.stderr.write(f"mochat ask: error: {err}\n")
        return 2
    with channel:
        stub = llm_pb2_grpc.LlmServiceStub(channel)
        try:
            session_id = args.session
            if args.upload or args.new_session:
                source = {"sequence": _upload(args)} if args.upload else {"stream_id": args.stream}
                session = stub.CreateSession(llm_pb2.CreateSessionRequest(**source),
                                             timeout=args.timeout, metadata=metadata)
                session_id = session.session_id
                if not args.json:
                    sys.stdout.write(f"session {session_id} ({session.stream_id})\n")
            answer = _ask(stub, build_request(args, session_id), args, metadata)
        except grpc.RpcError as err:
            sys.stderr.write(f"mochat ask: error: {err.code().name}: {err.details()}\n")
            return 1
    if args.json:
        sys.stdout.write(json.dumps(answer_dict(answer)) + "\n")
    else:
        _show(answer, streamed=args.tokens)
    return 0

"""Start the live pipeline on 127.0.0.1 for one demo run: the embedded broker, the encoder
service, ingest and the LLM service, each a child process (demo/processes.py).

Start-up overlaps what it can on a small machine: the broker comes first (the LLM service
reads from it), then the encoder export (reused when the checkpoint's encoder has not
changed) and the LLM service's model load run side by side; the encoder service starts on
the exported file, ingest once the encoder is SERVING. The LLM service is not linked to the
encoder service (it answers live streams only; an upload would use the checkpoint's encoder
in-process); it stores only features stamped by the demo's encoder file.

Transport: gRPC over TLS with the run's throwaway CA and bearer tokens (demo/tls.py), or
plaintext with no tokens when `plaintext_dev` (loud, loopback only). Kafka is plaintext on
127.0.0.1 either way: the embedded Tansu broker speaks neither TLS nor SASL.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from demo.processes import Children
from demo.tls import DemoSecurity, make_demo_security
from ingest.broker import LocalBroker, free_port
from mochat.security import ChannelSecurity

HOST = "127.0.0.1"
ENCODER_FILE = "encoder.onnx"
# Ingest windows of 10 s (200 frames at 20 fps, 1200 at 120 fps), one per 10 s: every demo
# motion (<= 9.8 s) lands whole in one window, the length the model was trained on; a
# stream's last, partial window is flushed 1 s after its last frame. The group timeouts are
# the short ones a Tansu broker needs (ingest/settings.py).
INGEST_ENV = {"WINDOW_S": "10", "STEP_S": "10", "IDLE_TIMEOUT_MS": "1000",
              "SESSION_TIMEOUT_MS": "3000", "HEARTBEAT_INTERVAL_MS": "300",
              "REBALANCE_TIMEOUT_MS": "2000", "FETCH_MAX_WAIT_MS": "20"}
SHUTDOWN_GRACE_S = "2"  # the services' drain on SIGTERM; the demo has nothing in flight


@dataclass(frozen=True)
class Pipeline:
    bootstrap_servers: str
    encoder: str  # HOST:PORT
    llm: str  # HOST:PORT
    client: ChannelSecurity  # how this demo reaches the LLM service
    startup_s: float


class ServiceError(RuntimeError):
    """A service did not start; the message names its log."""


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _mochat(*args: str) -> list[str]:
    return [sys.executable, "-m", "mochat", *args]


def encoder_digest(checkpoint: Path) -> str:
    """SHA-256 over the checkpoint's encoder files (names and bytes)."""
    root = checkpoint / "encoder" if (checkpoint / "encoder").is_dir() else checkpoint
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _export(children: Children, model: Path, out: Path, logs: Path) -> None:
    """`mochat export onnx` (with its parity check) unless the export beside it is of the
    same encoder."""
    onnx, stamp = out / ENCODER_FILE, out / "encoder.source.json"
    want = {"checkpoint": str(model.resolve()), "encoder_sha256": encoder_digest(model)}
    if onnx.is_file() and onnx.with_suffix(".json").is_file() and stamp.is_file() \
            and json.loads(stamp.read_text()) == want:
        say(f"   encoder: reusing {onnx} (same encoder as {model})")
        return
    stamp.unlink(missing_ok=True)
    child = children.start("export", _mochat("export", "onnx", "--checkpoint", str(model),
                                             "--out", str(onnx)), log_path=logs / "export.log")
    assert child.popen is not None
    child.popen.wait()
    if child.popen.returncode != 0:
        raise ServiceError(f"encoder export failed (code {child.popen.returncode}); see "
                           f"{logs / 'export.log'}")
    stamp.write_text(json.dumps(want, indent=1) + "\n")
    say(f"   encoder: exported {onnx} ({(logs / 'export.log').read_text().splitlines()[-1]})")


def wait_serving(children: Children, name: str, address: str, security: ChannelSecurity,
                 log: Path, timeout_s: float) -> None:
    """Poll gRPC health (public, no token) until SERVING; fail early if a child died."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    deadline = time.monotonic() + timeout_s
    with security.sync_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            try:
                children.check()
            except RuntimeError as err:
                raise ServiceError(f"{err}; see {log}") from None
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=2.0)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.3)
    raise ServiceError(f"{name} not SERVING on {address} after {timeout_s:.0f} s; see {log}")


def wait_log_event(children: Children, log: Path, event: str, timeout_s: float) -> bool:
    """Wait for a JSON log line with `event` (ingest's partitions_assigned); False on time."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        children.check()
        if log.is_file() and f'"event": "{event}"' in log.read_text(errors="replace"):
            return True
        time.sleep(0.2)
    return False


def _server_flags(security: DemoSecurity | None) -> list[str]:
    if security is None:
        return ["--insecure"]
    return ["--tls-cert-file", str(security.server_cert), "--tls-key-file",
            str(security.server_key), "--token-file", str(security.token_file)]


def _client(security: DemoSecurity | None, token: Path | None) -> ChannelSecurity:
    if security is None:
        return ChannelSecurity(insecure=True)
    return ChannelSecurity(ca_file=security.ca, token_file=token)


def _describe(security: DemoSecurity | None) -> None:
    if security is None:
        bar = "!" * 88
        say(f"{bar}\n!! DEVELOPMENT MODE (--plaintext-dev): plaintext gRPC on 127.0.0.1, no "
            f"tokens: every caller\n!! is anonymous with every role. The services refuse "
            f"this on any other address.\n{bar}")
        return
    say(f"   gRPC: TLS with a throwaway CA ({security.ca}), server certificate for "
        f"127.0.0.1;\n         bearer tokens from {security.token_file.parent}/ "
        "(demo-ingest: encode, demo-client: ask)")


def start_pipeline(children: Children, *, model: Path, out: Path, logs: Path,
                         plaintext_dev: bool) -> Pipeline:
    """Everything up and answering, or ServiceError (the caller stops the children)."""
    t0 = time.monotonic()
    security = None if plaintext_dev else make_demo_security(out / "run" / "tls")
    _describe(security)
    say(f"   Kafka: plaintext on {HOST} (the embedded Tansu broker has no TLS or SASL)")
    broker = LocalBroker(free_port(), log_path=logs / "broker.log").start()
    assert broker.process is not None
    children.adopt("broker", broker.pid or 0, broker.process)
    say(f"   broker: {broker.bootstrap_servers} (pid {broker.pid})")
    encoder, llm = f"{HOST}:{free_port()}", f"{HOST}:{free_port()}"
    env = dict(os.environ)
    llm_env = env | {"MOCHAT_LLM_FEATURES_ENCODER": f"{ENCODER_FILE}@v1",
                     "MOCHAT_LLM_SHUTDOWN_GRACE_S": SHUTDOWN_GRACE_S}
    llm_child = children.start("llm", _mochat(
        "serve", "llm", "--model", str(model), "--host", HOST, "--port", llm.rsplit(":")[1],
        "--bootstrap-servers", broker.bootstrap_servers, *_server_flags(security)),
        log_path=logs / "llm.log", env=llm_env)
    say(f"   LLM service: loading {model} (pid {llm_child.pid})")
    _export(children, model, out, logs)
    enc_child = children.start("encoder", _mochat(
        "serve", "encoder", "--model", str(out / ENCODER_FILE), "--host", HOST,
        "--port", encoder.rsplit(":")[1], *_server_flags(security)),
        log_path=logs / "encoder.log",
        env=env | {"MOCHAT_ENCODER_SHUTDOWN_GRACE_S": SHUTDOWN_GRACE_S})
    wait_serving(children, "encoder service", encoder, _client(security, None),
                       logs / "encoder.log", 120)
    say(f"   encoder service: {encoder} (pid {enc_child.pid})")
    ingest_env = env | {f"MOCHAT_INGEST_{k}": v for k, v in INGEST_ENV.items()}
    if security is None:
        flags = ["--encoder-insecure"]
    else:
        flags = []
        ingest_env |= {"MOCHAT_INGEST_ENCODER_CHANNEL__CA_FILE": str(security.ca),
                       "MOCHAT_INGEST_ENCODER_CHANNEL__TOKEN_FILE": str(security.ingest_token)}
    ingest_child = children.start("ingest", _mochat(
        "serve", "ingest", "--bootstrap-servers", broker.bootstrap_servers, "--encoder",
        encoder, *flags), log_path=logs / "ingest.log", env=ingest_env)
    wait_serving(children, "LLM service", llm, _client(security, None),
                       logs / "llm.log", 240)
    say(f"   LLM service: {llm} (pid {llm_child.pid})")
    if not wait_log_event(children, logs / "ingest.log", "partitions_assigned", 30):
        say("   ingest: no partitions yet after 30 s; frames wait in the topic")
    say(f"   ingest: {INGEST_ENV['WINDOW_S']} s windows (pid {ingest_child.pid})")
    return Pipeline(broker.bootstrap_servers, encoder, llm,
                    _client(security, None if security is None else security.client_token),
                    time.monotonic() - t0)

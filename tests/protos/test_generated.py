"""The committed generated code matches what `python -m protos.generate` produces now."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from protos.generate import PROTO_ROOT, generated_files, proto_files

REPO = PROTO_ROOT.parent


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("grpc_tools")
    out = tmp_path_factory.mktemp("gen")
    # A subprocess, as a developer would run it, so the test also covers the CLI.
    subprocess.run([sys.executable, "-m", "protos.generate", "--out", str(out)],
                   cwd=REPO, check=True, capture_output=True)
    return out


def test_every_proto_has_generated_code_committed() -> None:
    # frames, encoder, llm -> 3 protos x 3 generated files each
    protos = proto_files()
    assert [p.name for p in protos] == ["encoder.proto", "frames.proto", "llm.proto"]
    committed = {p.as_posix() for p in generated_files(PROTO_ROOT)}
    for proto in protos:
        stem = proto.with_suffix("").as_posix()
        for suffix in ("_pb2.py", "_pb2_grpc.py", "_pb2.pyi"):
            assert stem + suffix in committed


def test_committed_code_has_not_drifted(fresh: Path) -> None:
    regenerated = generated_files(fresh)
    assert regenerated == generated_files(PROTO_ROOT), "generated file set differs"
    stale = [p.as_posix() for p in regenerated
             if (fresh / p).read_bytes() != (PROTO_ROOT / p).read_bytes()]
    assert not stale, f"run scripts/gen_protos.sh: stale generated code {stale}"


def test_generated_imports_point_into_protos_package(fresh: Path) -> None:
    # protoc writes `from mochat.v1 import ...`, which would shadow the core package.
    for rel in generated_files(fresh):
        text = (fresh / rel).read_text()
        assert "\nfrom mochat." not in text and not text.startswith("from mochat.")
    from protos.mochat.v1 import encoder_pb2, llm_pb2

    window = encoder_pb2.EncodeRequest().windows.add()
    assert window.DESCRIPTOR.full_name == "mochat.v1.MotionWindow"
    assert llm_pb2.Priority.Name(llm_pb2.PRIORITY_BATCH) == "PRIORITY_BATCH"

"""The Kubernetes manifests parse, their kustomizations point at files that exist, and every
container command is a `mochat` command line the real CLI parser accepts."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml

from mochat.cli import build_parser

K8S = Path(__file__).resolve().parents[2] / "k8s"


def _documents() -> list[tuple[Path, dict]]:
    docs = []
    for path in sorted(K8S.rglob("*.yaml")):
        docs += [(path, d) for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def _containers(doc: dict) -> list[dict]:
    spec = doc.get("spec", {})
    if doc["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec.get("template", {}).get("spec", {}).get("containers", [])


def test_every_manifest_parses_and_kustomizations_resolve():
    docs = _documents()
    assert {d["kind"] for _, d in docs} >= {"Deployment", "Service", "Kustomization",
                                             "ConfigMap", "CronJob", "HorizontalPodAutoscaler"}
    for path, doc in docs:
        if doc["kind"] == "Kustomization":
            for resource in doc.get("resources", []):
                assert (path.parent / resource).exists(), f"{path}: missing {resource}"


@pytest.mark.parametrize("path,doc", [(p, d) for p, d in _documents()
                                      if d["kind"] in ("Deployment", "CronJob")],
                         ids=lambda v: v.name if isinstance(v, Path) else "")
def test_container_commands_are_valid_mochat_command_lines(path, doc):
    parser = build_parser()
    for container in _containers(doc):
        command = container["command"]
        if command[:2] == ["sh", "-c"]:
            command = shlex.split(command[2].replace("$MOCHAT_BOOTSTRAP_SERVERS", "kafka:9092"))
        assert command[0] == "mochat", f"{path}: {command}"
        parser.parse_args(command[1:])  # exits (SystemExit) on an unknown flag

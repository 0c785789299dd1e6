"""Rendered manifests for the k8s tests: `kubectl kustomize` of every deployable
kustomization, and what a container would see (its command, its environment with ConfigMap
references resolved, its mounts)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
# Everything one applies: the three service overlays and the batch run.
TARGETS = ("overlays/local", "overlays/production", "overlays/gpu", "batch")
# Values that only exist in a running cluster, for the environment a test builds.
SECRET_VALUE = "secret-from-cluster"
FIELD_VALUE = "0"  # fieldRef: the only one used is the Job completion index

needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None,
                                   reason="kubectl (with kustomize) is not installed")


@cache
def render(target: str | Path) -> tuple[dict[str, Any], ...]:
    """`kubectl kustomize TARGET` as a tuple of objects (cached; do not mutate them)."""
    path = Path(target) if Path(target).is_absolute() else K8S / target
    out = subprocess.run(["kubectl", "kustomize", str(path)], check=True,
                         capture_output=True, text=True).stdout
    return tuple(d for d in yaml.safe_load_all(out) if d)


def find(objects: tuple[dict[str, Any], ...], kind: str, name: str | None = None
         ) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind
            and (name is None or o["metadata"]["name"] == name)]


def one(objects: tuple[dict[str, Any], ...], kind: str, name: str) -> dict[str, Any]:
    found = find(objects, kind, name)
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def pod_spec(workload: dict[str, Any]) -> dict[str, Any] | None:
    spec = workload.get("spec", {})
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    template = spec.get("template")
    return template["spec"] if template else None


@dataclass(frozen=True)
class Container:
    target: str
    workload: dict[str, Any]
    spec: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.target}:{self.workload['kind']}/{self.workload['metadata']['name']}" \
               f"/{self.spec['name']}"

    @property
    def command(self) -> list[str]:
        return [*self.spec.get("command", []), *self.spec.get("args", [])]

    def volume(self, name: str) -> dict[str, Any]:
        pod = pod_spec(self.workload)
        assert pod is not None
        return next(v for v in pod.get("volumes", []) if v["name"] == name)


def containers(target: str) -> list[Container]:
    found = []
    for obj in render(target):
        pod = pod_spec(obj)
        if pod is None:
            continue
        found += [Container(target, obj, c) for c in pod.get("containers", [])]
    return found


def all_containers() -> list[Container]:
    """Every container of every target; none where kubectl is missing (tests then skip)."""
    if shutil.which("kubectl") is None:
        return []
    return [c for target in TARGETS for c in containers(target)]


def environment(container: Container) -> dict[str, str]:
    """The container's environment as the kubelet would build it from the manifests:
    envFrom ConfigMaps (rendered in the same target), then env entries. Secret values and
    field references are placeholders; an envFrom Secret is refused, because it hides which
    variables it sets."""
    objects = render(container.target)
    env: dict[str, str] = {}
    for source in container.spec.get("envFrom", []):
        assert "secretRef" not in source, \
            f"{container.id}: envFrom a Secret hides its variable names; use env secretKeyRef"
        ref = source["configMapRef"]
        data = one(objects, "ConfigMap", ref["name"]).get("data", {})
        env.update({source.get("prefix", "") + k: v for k, v in data.items()})
    for entry in container.spec.get("env", []):
        if "value" in entry:
            env[entry["name"]] = entry["value"]
            continue
        ref = entry["valueFrom"]
        if "configMapKeyRef" in ref:
            key = ref["configMapKeyRef"]
            env[entry["name"]] = one(objects, "ConfigMap", key["name"])["data"][key["key"]]
        elif "secretKeyRef" in ref:
            env[entry["name"]] = SECRET_VALUE
        else:
            env[entry["name"]] = FIELD_VALUE
    return env


def expand(word: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion of a command word."""
    for name, value in env.items():
        word = word.replace(f"$({name})", value)
    return word


def mounted_file(container: Container, path: str) -> str | None:
    """Why `path` is not a file the container's volumes provide, or None when it is.
    Secret and projected volumes are checked item by item when they list items."""
    mounts = [m for m in container.spec.get("volumeMounts", [])
              if path.startswith(m["mountPath"].rstrip("/") + "/")]
    if not mounts:
        return f"{path} is under no volume mount"
    mount = max(mounts, key=lambda m: len(m["mountPath"]))
    relative = path[len(mount["mountPath"].rstrip("/")) + 1:]
    volume = container.volume(mount["name"])
    if "projected" in volume:
        sources = [s.get("secret") or s.get("configMap") or {}
                   for s in volume["projected"]["sources"]]
    else:
        sources = [volume.get("secret") or volume.get("configMap") or {}]
    listed = [item["path"] for s in sources for item in s.get("items", [])]
    if any(not s.get("items") for s in sources) or relative in listed:
        return None
    return f"{path}: volume {mount['name']!r} provides only {listed}"

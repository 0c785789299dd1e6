"""k8s/Dockerfile (static: no Docker engine here): one target per image the manifests run,
the encoder and ingest targets without torch (neither their stages nor their extras), the
models baked in, the health check installed, nothing fetched at run time."""

from __future__ import annotations

import re
import tomllib

import pytest

from tests.k8s.manifests import K8S, REPO, TARGETS, all_containers, needs_kubectl, render

DOCKERFILE = (K8S / "Dockerfile").read_text()
TORCH_FREE = ("encoder", "encoder-gpu", "ingest", "broker")


def _stages() -> dict[str, tuple[str, str]]:
    """target -> (the stage it is built FROM, its instructions)."""
    parts = re.split(r"^FROM ", DOCKERFILE, flags=re.M)[1:]
    stages = {}
    for part in parts:
        head, _, body = part.partition("\n")
        base, _, name = head.partition(" AS ")
        stages[name.strip()] = (base.strip(), body)
    return stages


def _lineage(target: str) -> list[str]:
    stages, chain = _stages(), [target]
    while chain[-1] in stages:
        chain.append(stages[chain[-1]][0])
    return chain


def _extras_closure(extra: str) -> set[str]:
    """Every requirement an extra of pyproject.toml pulls, through mochat[...] references."""
    optional = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    seen, todo, reqs = set(), [extra], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for req in optional[name]:
            if req.startswith("mochat["):
                todo += req[len("mochat["):-1].split(",")
            else:
                reqs.add(re.split(r"[<>=\[; ]", req, maxsplit=1)[0].lower())
    return reqs


def test_torch_free_targets_do_not_build_on_the_torch_stage_or_install_it():
    stages = _stages()
    for target in TORCH_FREE:
        assert "torch" not in _lineage(target), target
        assert "assert-no-torch" in stages[target][1] or "assert-no-torch" in \
            stages[_lineage(target)[1]][1], target
    assert "torch" not in _extras_closure("encoder-service")
    assert "torch" not in _extras_closure("ingest")
    assert "torch" in _extras_closure("llm-service")  # the sanity check of the closure


def test_models_are_baked_in_and_nothing_is_fetched_at_run_time():
    stages = _stages()
    for target in ("encoder", "encoder-gpu"):
        assert "COPY --from=export /export/ /models/" in stages[target][1]
    assert "mochat export onnx" in stages["export"][1]
    assert "COPY models/mochat-smollm2-synth/" in stages["llm"][1]
    assert "smollm2_dir()" in stages["llm"][1]  # the base LLM dequantised at build time
    for offline in ("HF_HUB_OFFLINE=1", "TRANSFORMERS_OFFLINE=1"):
        assert offline in stages["base"][1]
    assert "k8s/healthcheck.py /usr/local/bin/mochat-healthcheck" in stages["base"][1]


@needs_kubectl
def test_every_image_the_manifests_run_is_a_dockerfile_target():
    stages = _stages()
    for target in TARGETS:
        for container in [c for c in all_containers() if c.target == target]:
            image = container.spec["image"]
            name, _, tag = image.rpartition(":")
            role = name.rsplit("/", 1)[-1].removeprefix("mochat-")
            built = f"{role}-gpu" if tag.endswith("-gpu") else role
            assert built in stages, f"{container.id}: {image} has no Dockerfile target"


@needs_kubectl
def test_paths_the_manifests_expect_in_the_images_are_where_the_dockerfile_puts_them():
    envs = {k: v for o in render("overlays/production") if o["kind"] == "ConfigMap"
            for k, v in o.get("data", {}).items()}
    assert envs["MOCHAT_ENCODER_MODEL"] == "/models/encoder.onnx"
    assert "--out /export/encoder.onnx" in DOCKERFILE
    assert envs["MOCHAT_LLM_MODEL"] == "/app/models/mochat-smollm2-synth"
    assert "WORKDIR /app" in DOCKERFILE


@pytest.mark.parametrize("extra", ["encoder-service", "ingest", "llm-service", "eval"])
def test_the_extras_the_dockerfile_installs_exist(extra):
    assert extra in tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert extra in DOCKERFILE

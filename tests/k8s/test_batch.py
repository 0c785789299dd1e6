"""The batch run: an Indexed Job of SHARDS pods, each `mochat batch --shard I/N` over the
archive volume into the results volume, then a merge Job of the same N; one value in
k8s/batch/params.env sets N everywhere, and the documented launch line names these Jobs."""

from __future__ import annotations

import importlib.util
import shutil
import sys

import pytest

from tests.k8s.manifests import (
    K8S,
    REPO,
    containers,
    environment,
    expand,
    needs_kubectl,
    one,
    render,
)

pytestmark = needs_kubectl


def _shards() -> int:
    line = next(ln for ln in (K8S / "batch" / "params.env").read_text().splitlines()
                if ln.startswith("SHARDS="))
    return int(line.split("=", 1)[1])


def _flag(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


def _check(objects, shards: int) -> None:
    job = one(objects, "Job", "reprocess")["spec"]
    assert job["completionMode"] == "Indexed"
    assert job["completions"] == job["parallelism"] == shards
    assert job["backoffLimitPerIndex"] >= 1
    assert job["template"]["spec"]["restartPolicy"] == "Never"  # backoffLimitPerIndex needs it
    command = job["template"]["spec"]["containers"][0]["command"]
    assert command[:2] == ["mochat", "batch"]
    assert _flag(command, "--shard") == f"$(JOB_COMPLETION_INDEX)/{shards}"
    assert (_flag(command, "--archive"), _flag(command, "--questions"),
            _flag(command, "--out")) == ("/archive", "/config/questions.yaml", "/results")
    merge = one(objects, "Job", "reprocess-merge")["spec"]
    assert merge["suspend"] is True
    merge_command = merge["template"]["spec"]["containers"][0]["command"]
    assert merge_command[:3] == ["mochat", "batch", "merge"]
    assert _flag(merge_command, "--shards") == str(shards)
    assert _flag(merge_command, "--out") == "/results"


def test_the_shards_follow_params_env():
    _check(render("batch"), _shards())


def test_changing_shards_in_params_env_changes_every_place(tmp_path):
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    (copy / "batch" / "params.env").write_text("SHARDS=13\n")
    _check(render(copy / "batch"), 13)


def test_each_shard_pod_reads_the_archive_read_only_and_writes_the_results_volume():
    (pod,) = [c for c in containers("batch") if c.workload["metadata"]["name"] == "reprocess"]
    mounts = {m["mountPath"]: m for m in pod.spec["volumeMounts"]}
    assert mounts["/archive"].get("readOnly") is True
    assert pod.volume(mounts["/archive"]["name"])["persistentVolumeClaim"] == {
        "claimName": "mocap-archive", "readOnly": True}
    results = pod.volume(mounts["/results"]["name"])["persistentVolumeClaim"]["claimName"]
    pvc = one(render("batch"), "PersistentVolumeClaim", results)
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]  # N pods write at once
    questions = pod.volume(mounts["/config"]["name"])["configMap"]["name"]
    assert "questions.yaml" in one(render("batch"), "ConfigMap", questions)["data"]
    # the index the command names comes from the Job's own annotation
    assert expand("$(JOB_COMPLETION_INDEX)", environment(pod)) == "0"


def test_the_questions_file_and_every_shard_argument_parse_with_the_batch_code(tmp_path,
                                                                             monkeypatch):
    path = REPO / "mochat" / "batch" / "questions.py"
    if not path.is_file():
        pytest.skip("mochat/batch/questions.py (the batch command's reader) is not there")
    # The file alone: the mochat.batch package imports the model stack (seconds of torch).
    spec = importlib.util.spec_from_file_location("batch_questions", path)
    questions = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, questions)  # dataclasses look it up
    spec.loader.exec_module(questions)
    objects = render("batch")
    (config,) = [o for o in objects if o["kind"] == "ConfigMap"]
    path = tmp_path / "questions.yaml"
    path.write_text(config["data"]["questions.yaml"])
    assert len(questions.read_questions(path).templates) == 3
    shards = _shards()
    for index in range(shards):  # what each pod's $(JOB_COMPLETION_INDEX)/N becomes
        assert questions.parse_shard(f"{index}/{shards}") == (index, shards)


def test_the_documented_launch_line_names_these_jobs():
    launch = next(ln for ln in (K8S / "batch" / "kustomization.yaml").read_text().splitlines()
                  if "kubectl kustomize k8s/batch" in ln)
    assert "job/reprocess " in launch and "job reprocess-merge" in launch
    assert "condition=Complete" in launch and '"suspend":false' in launch
    assert launch.strip("# ") in (K8S / "README.md").read_text()

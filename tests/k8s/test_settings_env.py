"""Every MOCHAT_* variable a rendered container gets is one its settings class reads.

For each container of each overlay (and the batch run) the environment is built as the
kubelet would (ConfigMaps resolved), the settings class of its command is instantiated with
exactly that environment, and every MOCHAT_* name is checked against the class's fields:
prefix, then field, then, after the nested delimiter, the nested model's field. A name no
field takes would be silently ignored by pydantic-settings; here it fails.
"""

from __future__ import annotations

import os
from pathlib import PurePosixPath
from typing import Any, get_args

import pytest
from pydantic import BaseModel
from pydantic_settings import BaseSettings

from tests.k8s.manifests import (
    REPO,
    TARGETS,
    Container,
    all_containers,
    containers,
    environment,
    expand,
    mounted_file,
    needs_kubectl,
)

pytestmark = needs_kubectl

# Variables read outside any settings class, by process: name -> the file that reads it
# (checked below, so this list cannot outlive the code).
PROCESS_WIDE = {"MOCHAT_CACHE": "mochat/models/llm.py"}


def settings_class(command: list[str]) -> type[BaseSettings] | None:
    """The settings class behind a `mochat` command line (None: it has none)."""
    if command[1:3] == ["serve", "encoder"]:
        from encoder_service.settings import EncoderSettings
        return EncoderSettings
    if command[1:3] == ["serve", "ingest"]:
        from ingest.settings import IngestSettings
        return IngestSettings
    if command[1:3] == ["serve", "llm"]:
        from llm_service.settings import LlmSettings
        return LlmSettings
    return None


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        if (model := _model_in(arg)) is not None:
            return model
    return None


def _has_field(model: type[BaseModel], parts: list[str]) -> bool:
    fields = {name.lower(): f for name, f in model.model_fields.items()}
    field = fields.get(parts[0])
    if field is None:
        return False
    if len(parts) == 1:
        return True
    nested = _model_in(field.annotation)
    return nested is not None and _has_field(nested, parts[1:])


def unread_variables(cls: type[BaseSettings] | None, env: dict[str, str]) -> list[str]:
    """The MOCHAT_* names in `env` that neither `cls` nor a process-wide reader takes."""
    config = cls.model_config if cls else {}
    prefix = str(config.get("env_prefix", "")).upper()
    delimiter = config.get("env_nested_delimiter")
    unread = []
    for name in env:
        if not name.upper().startswith("MOCHAT_") or name in PROCESS_WIDE:
            continue
        if cls is None or not prefix or not name.upper().startswith(prefix):
            unread.append(name)
            continue
        rest = name[len(prefix):].lower()
        parts = rest.split(delimiter.lower()) if delimiter else [rest]
        if not _has_field(cls, parts):
            unread.append(name)
    return unread


def _settings(container: Container, monkeypatch: pytest.MonkeyPatch) -> BaseSettings | None:
    """The container's settings, built like its service builds them: exactly its
    environment, plus the command's flags over it."""
    from mochat.cli import build_parser

    env = environment(container)
    command = [expand(word, env) for word in container.command]
    cls = settings_class(command)
    if cls is None:
        return None
    for name in list(os.environ):
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    args = vars(build_parser().parse_args(command[1:]))
    return cls(**{k: v for k, v in args.items() if k in cls.model_fields and v is not None})


_ALL = all_containers()


@pytest.mark.parametrize("container", _ALL, ids=lambda c: c.id)
def test_every_mochat_variable_is_a_setting_the_container_reads(container, monkeypatch):
    env = environment(container)
    cls = settings_class(container.command)
    unread = unread_variables(cls, env)
    reader = cls.__name__ if cls else "no settings class (only " + ", ".join(PROCESS_WIDE) + ")"
    assert not unread, f"{container.id}: {reader} reads none of {unread}"
    _settings(container, monkeypatch)  # and the values validate (ValidationError otherwise)


@pytest.mark.parametrize("container", _ALL, ids=lambda c: c.id)
def test_every_file_a_setting_names_is_mounted(container, monkeypatch):
    for name, value in environment(container).items():
        if name.startswith("MOCHAT_") and value.startswith("/var/run/secrets/"):
            problem = mounted_file(container, value)
            assert problem is None, f"{container.id}: {name}: {problem}"


def test_process_wide_variables_are_still_read():
    for name, path in PROCESS_WIDE.items():
        assert name in (REPO / path).read_text(), f"{path} no longer reads {name}"


@pytest.mark.parametrize("name,expected", [
    ("MOCHAT_INGEST_KAFKA__BOOTSTRAP_SERVERS", []),          # nested, as the class reads it
    ("MOCHAT_INGEST_BOOTSTRAP_SERVERS", ["MOCHAT_INGEST_BOOTSTRAP_SERVERS"]),  # no such field
    ("MOCHAT_INGEST_KAFKA__BOOTSTRAP", ["MOCHAT_INGEST_KAFKA__BOOTSTRAP"]),    # no nested one
    ("MOCHAT_INGEST_WINDOW_S__X", ["MOCHAT_INGEST_WINDOW_S__X"]),    # window_s is not a model
    ("MOCHAT_LLM_MAX_BATCH", ["MOCHAT_LLM_MAX_BATCH"]),      # another service's variable
    ("MOCHAT_CACHE", []),                                    # process-wide
    ("OTHER", []),                                           # not ours
])
def test_unread_variables_follows_prefix_field_and_nested_delimiter(name, expected):
    from ingest.settings import IngestSettings

    assert unread_variables(IngestSettings, {name: "1"}) == expected


def test_encoder_settings_have_no_nested_delimiter():
    from encoder_service.settings import EncoderSettings

    # MOCHAT_ENCODER_MAX_BATCH is a field; with no delimiter a "__" name is one unknown field
    assert unread_variables(EncoderSettings, {"MOCHAT_ENCODER_MAX_BATCH": "8"}) == []
    assert unread_variables(EncoderSettings, {"MOCHAT_ENCODER_KAFKA__X": "1"}) == [
        "MOCHAT_ENCODER_KAFKA__X"]


def test_the_rendered_settings_agree_with_the_ports_the_manifests_open(monkeypatch):
    """The gRPC and metrics ports the settings bind are the containerPorts named so."""
    for target in TARGETS:
        for container in containers(target):
            settings = _settings(container, monkeypatch)
            if settings is None:
                continue
            ports = {p["name"]: p["containerPort"] for p in container.spec.get("ports", [])}
            assert getattr(settings, "metrics_port", None) == ports.get("metrics"), container.id
            if "grpc" in ports:
                assert settings.port == ports["grpc"], container.id  # type: ignore[attr-defined]
            model = getattr(settings, "model", None)
            if model is not None:
                assert PurePosixPath(str(model)).is_absolute(), container.id

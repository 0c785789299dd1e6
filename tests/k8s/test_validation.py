"""Every rendered object validates strictly, offline.

Standard kinds: `kubernetes_validate` in strict mode (no unknown field anywhere) against the
Kubernetes version below. Custom resources: the operators' JSON schemas in
../shared/reference/k8s-crd-schemas (Strimzi, KEDA, cert-manager, Prometheus Operator) or,
for the one kind missing there, tests/k8s/schemas; tightened so that every object schema
with listed properties refuses unknown ones (unless the CRD preserves unknown fields, as
KafkaTopic's `config` does), and with `metadata` checked as a strict ObjectMeta. A misspelt
field therefore fails, which the last tests show on purpose.
"""

from __future__ import annotations

import copy
import json
import shutil
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest

from tests.k8s.manifests import TARGETS, find, needs_kubectl, render

kubernetes_validate = pytest.importorskip("kubernetes_validate")
jsonschema = pytest.importorskip("jsonschema")
referencing = pytest.importorskip("referencing")

pytestmark = needs_kubectl

# The oldest Kubernetes these manifests are for: Indexed Jobs' backoffLimitPerIndex and
# podFailurePolicy FailIndex are beta and on by default from 1.29/1.30.
KUBERNETES = "1.30"
CRD_SCHEMAS = Path(__file__).parents[2].parent / "shared" / "reference" / "k8s-crd-schemas"
LOCAL_SCHEMAS = Path(__file__).parent / "schemas"
_DEFS_ID = "https://kubernetes.io/api/_definitions.json"
_OBJECT_META = f"{_DEFS_ID}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

needs_crd_schemas = pytest.mark.skipif(
    not CRD_SCHEMAS.is_dir(),
    reason=f"custom-resource schemas not found at {CRD_SCHEMAS} (shared/reference/"
           "k8s-crd-schemas beside the repository)")


@pytest.fixture(autouse=True, scope="module")
def _schema_files_read_once():
    """kubernetes_validate reads and parses its schema files (a few MB) on every call;
    cached for this module, the ~140 validations take a second instead of fifteen."""
    utils = kubernetes_validate.utils
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(utils, "schema_contents", cache(utils.schema_contents))
        yield


def strict(schema: Any) -> Any:
    """`schema` with additionalProperties: false on every object schema that lists its
    properties and says nothing about others (not where the CRD preserves unknown fields).
    Only properties/items/additionalProperties are followed: the branches of oneOf/anyOf/
    allOf only add constraints to the object they belong to, and must stay open."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    if isinstance(out.get("properties"), dict):
        out["properties"] = {name: strict(s) for name, s in out["properties"].items()}
        if "additionalProperties" not in out and \
                not out.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    for key in ("items", "additionalProperties"):
        if isinstance(out.get(key), dict):
            out[key] = strict(out[key])
    return out


@cache
def _definitions() -> Any:
    path = files("kubernetes_validate") / "kubernetes-json-schema" / \
        f"v{KUBERNETES}.0-local-strict" / "_definitions.json"
    return referencing.Resource.from_contents(json.loads(path.read_text()))


def crd_schema_path(api_version: str, kind: str) -> Path | None:
    group, _, version = api_version.rpartition("/")
    for root in (CRD_SCHEMAS, LOCAL_SCHEMAS):
        path = root / group / f"{kind.lower()}_{version}.json"
        if path.is_file():
            return path
    return None


@cache
def _crd_validator(api_version: str, kind: str) -> Any:
    path = crd_schema_path(api_version, kind)
    assert path is not None, f"no schema for {kind} ({api_version}) in {CRD_SCHEMAS} or " \
                             f"{LOCAL_SCHEMAS}: add one, an unvalidated resource is not allowed"
    schema = strict(json.loads(path.read_text()))
    schema["properties"]["metadata"] = {"$ref": _OBJECT_META}
    schema["additionalProperties"] = False  # the top level too: apiVersion, kind, metadata, spec
    registry = referencing.Registry().with_resource(_DEFS_ID, _definitions())
    return jsonschema.Draft202012Validator(schema, registry=registry)


def validate(obj: dict[str, Any]) -> None:
    """Raise (a jsonschema ValidationError) unless `obj` is valid; see the module doc."""
    try:
        kubernetes_validate.validate(obj, KUBERNETES, strict=True)
        return
    except kubernetes_validate.SchemaNotFoundError:
        pass  # not a standard kind: a custom resource
    _crd_validator(obj["apiVersion"], obj["kind"]).validate(obj)


_OBJECTS = [(t, o) for t in TARGETS for o in render(t)] if shutil.which("kubectl") else []


@needs_crd_schemas
@pytest.mark.parametrize("target,obj", _OBJECTS,
                         ids=[f"{t}:{o['kind']}/{o['metadata']['name']}" for t, o in _OBJECTS])
def test_every_rendered_object_is_valid(target, obj):
    validate(obj)


@needs_crd_schemas
def test_every_custom_kind_has_a_schema():
    custom = {(o["apiVersion"], o["kind"]) for _, o in _OBJECTS
              if "." in o["apiVersion"].split("/")[0]
              and not o["apiVersion"].split("/")[0].endswith("k8s.io")}
    assert {k for _, k in custom} >= {"Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser",
                                      "ScaledObject", "Certificate", "Issuer", "ServiceMonitor"}
    for api_version, kind in custom:
        assert crd_schema_path(api_version, kind) is not None, (api_version, kind)


def _first(target: str, kind: str) -> dict[str, Any]:
    return copy.deepcopy(find(render(target), kind)[0])


@needs_crd_schemas
@pytest.mark.parametrize("kind,misspell", [
    pytest.param("Deployment", lambda d: d["spec"]["template"]["spec"]["containers"][0].update(
        imagePullPolicyy="Always"), id="Deployment-container"),
    pytest.param("Deployment", lambda d: d["spec"]["template"]["spec"].update(
        terminationGracePeriod=30), id="Deployment-podspec"),
    pytest.param("KafkaTopic", lambda d: d["spec"].update(partitons=12), id="KafkaTopic-spec"),
    pytest.param("KafkaTopic", lambda d: d.update(spce={}), id="KafkaTopic-top-level"),
    pytest.param("KafkaUser", lambda d: d["metadata"].update(lables={"a": "b"}),
                 id="KafkaUser-metadata"),
    pytest.param("Kafka", lambda d: d["spec"]["kafka"]["listeners"][0].update(
        authentification={}), id="Kafka-listener"),
    pytest.param("ScaledObject", lambda d: d["spec"].update(maxReplicas=3),
                 id="ScaledObject-spec"),
    pytest.param("Certificate", lambda d: d["spec"].update(dnsName=["x"]),
                 id="Certificate-spec"),
])
def test_a_misspelt_field_fails_validation(kind, misspell):
    obj = _first("overlays/production", kind)
    validate(obj)  # as rendered: valid
    misspell(obj)
    with pytest.raises(jsonschema.ValidationError, match="(?i)additional properties"):
        validate(obj)


@needs_crd_schemas
def test_a_wrong_type_in_a_custom_resource_fails():
    topic = _first("overlays/production", "KafkaTopic")
    topic["spec"]["partitions"] = "twelve"
    with pytest.raises(jsonschema.ValidationError):
        validate(topic)


def test_strict_leaves_preserved_and_combinator_schemas_open():
    schema = strict({"type": "object", "properties": {
        "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                   "properties": {"a": {}}},
        "env": {"type": "object", "properties": {"name": {}, "value": {}},
                "oneOf": [{"properties": {"value": {}}, "required": ["value"]}]}}})
    assert schema["additionalProperties"] is False
    assert "additionalProperties" not in schema["properties"]["config"]
    assert schema["properties"]["env"]["additionalProperties"] is False
    assert "additionalProperties" not in schema["properties"]["env"]["oneOf"][0]

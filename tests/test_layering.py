"""The layout shows the architecture: the core `mochat/` imports no service and no training
code; the encoder service and ingest need no torch (STYLE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imports(package: str, root: Path = ROOT) -> dict[str, set[str]]:
    """file -> the top-level packages it imports (anywhere in the file, lazy ones too)."""
    out = {}
    for path in sorted((root / package).rglob("*.py")):
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.split(".")[0])
        out[str(path.relative_to(root))] = found
    return out


def test_the_core_imports_no_service_and_no_training():
    banned = {"training", "ingest", "encoder_service", "llm_service", "demo", "bench"}
    wrong = {f: sorted(i & banned) for f, i in _imports("mochat").items() if i & banned}
    assert not wrong


def test_encoder_service_and_ingest_need_no_torch():
    for package in ("encoder_service", "ingest"):
        wrong = {f: "torch" for f, i in _imports(package).items() if "torch" in i}
        assert not wrong, wrong


def test_the_check_can_fail(tmp_path):
    (tmp_path / "mochat").mkdir()
    (tmp_path / "mochat" / "bad.py").write_text("def f():\n    from training import lm\n")
    assert _imports("mochat", tmp_path) == {"mochat/bad.py": {"training"}}

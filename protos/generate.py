"""Regenerate the Python code of every .proto under protos/ (the one command).

    python -m protos.generate            # in place, beside the .proto files
    python -m protos.generate --out DIR  # into DIR/mochat/v1/... (the drift test uses this)

protoc is run with `protos/` as the proto root, so files are named `mochat/v1/x.proto` as
in any other language. protoc then writes `from mochat.v1 import x_pb2`, which would resolve
to the core package `mochat`; the imports are rewritten to `from protos.mochat.v1 import`.
The rewrite is a fixed regex, so the output is byte-for-byte reproducible.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parent
GENERATED_SUFFIXES = ("_pb2.py", "_pb2_grpc.py", "_pb2.pyi")
_IMPORT = re.compile(r"^from (mochat\.v\d+) import ", re.MULTILINE)


def proto_files(root: Path = PROTO_ROOT) -> list[Path]:
    """Every .proto under `root`, relative to it, in sorted order."""
    return sorted(p.relative_to(root) for p in root.rglob("*.proto"))


def generated_files(out: Path) -> list[Path]:
    """Every generated file under `out`, relative to it, in sorted order."""
    return sorted(p.relative_to(out) for p in out.rglob("*")
                  if p.is_file() and p.name.endswith(GENERATED_SUFFIXES))


def generate(out: Path = PROTO_ROOT, root: Path = PROTO_ROOT) -> list[Path]:
    """Run protoc (grpcio-tools) on every .proto and fix the imports; return files written."""
    from grpc_tools import protoc  # dev extra; imported here so `protos` needs no grpc_tools

    files = proto_files(root)
    if not files:
        raise FileNotFoundError(f"no .proto files under {root}")
    out.mkdir(parents=True, exist_ok=True)
    args = ["grpc_tools.protoc", f"--proto_path={root}", f"--python_out={out}",
            f"--grpc_python_out={out}", f"--pyi_out={out}", *map(str, files)]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed: {' '.join(args)}")
    written = generated_files(out)
    for rel in written:
        path = out / rel
        text = path.read_text()
        fixed = _IMPORT.sub(r"from protos.\1 import ", text)
        if fixed != text:
            path.write_text(fixed)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PROTO_ROOT,
                        help="output root (default: in place, beside the .proto files)")
    args = parser.parse_args(argv)
    for rel in generate(args.out):
        sys.stdout.write(f"{args.out / rel}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

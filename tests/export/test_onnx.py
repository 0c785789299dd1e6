"""ONNX export: parity with torch on unseen shapes, the sidecar, the CLI, TensorRT message."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from mochat.cli import main
from mochat.errors import DataFormatError, InvalidSkeletonError
from mochat.export.sidecar import read_sidecar, sidecar_path
from mochat.models import build_encoder, encoder_tiny, load_encoder, save_encoder
from mochat.skeleton import SMPL22


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny JGSE checkpoint exported through `mochat export onnx` (parity check on)."""
    import torch

    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("export")
    # Saved as a full MoChat checkpoint: the encoder sits in encoder/.
    save_encoder(build_encoder("jgse", encoder_tiny(), SMPL22), root / "mochat" / "encoder")
    onnx_path = root / "encoder.onnx"
    assert main(["export", "onnx", "--checkpoint", str(root / "mochat"),
                 "--out", str(onnx_path)]) == 0
    return root / "mochat", onnx_path


def test_sidecar_describes_the_model(exported: tuple[Path, Path]) -> None:
    _, onnx_path = exported
    raw = json.loads(sidecar_path(onnx_path).read_text())
    assert sidecar_path(onnx_path).name == "encoder.json"
    assert raw["layout"] == "smpl22" and raw["num_joints"] == 22
    assert raw["feature_dim"] == 32 and raw["max_frames"] == 256  # encoder_tiny()
    assert raw["input_names"] == ["joints", "mask"] and raw["output_names"] == ["features"]
    sidecar = read_sidecar(onnx_path)
    with pytest.raises(InvalidSkeletonError, match="expects 22 joints, got 25"):
        sidecar.validate(np.zeros((1, 4, 25, 3), np.float32))
    with pytest.raises(InvalidSkeletonError, match="300 frames exceeds"):
        sidecar.validate(np.zeros((1, 300, 22, 3), np.float32))


def test_parity_on_lengths_not_seen_at_export(exported: tuple[Path, Path]) -> None:
    from mochat.export.onnx import check_parity

    ckpt, onnx_path = exported
    model = load_encoder(ckpt)
    # Traced at (2, 40); these batch sizes and lengths, the limit of 256 included, are new.
    report = check_parity(model, onnx_path, shapes=[(1, 1), (1, 17), (4, 64), (2, 256)])
    assert report.max_abs_err <= 1e-4, report


def test_onnx_graph_has_dynamic_axes(exported: tuple[Path, Path]) -> None:
    import onnx

    graph = onnx.load(str(exported[1])).graph
    joints = graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param != "" for d in joints] == [True, True, False, False]  # B, T dynamic
    assert [d.dim_value for d in joints][2:] == [22, 3]
    assert graph.input[1].type.tensor_type.elem_type == onnx.TensorProto.BOOL


def test_read_sidecar_missing(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="sidecar not found"):
        read_sidecar(tmp_path / "nothing.onnx")


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None,
                    reason="tensorrt is installed here")
def test_tensorrt_missing_gives_clear_message(exported: tuple[Path, Path], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["export", "tensorrt", "--onnx", str(exported[1]),
                 "--out", str(tmp_path / "encoder.plan"), "--fp16"])
    assert code == 2  # a MoChatError, reported without a traceback
    err = capsys.readouterr().err
    assert "TensorRT is not installed" in err and "pip install tensorrt" in err
    assert not (tmp_path / "encoder.plan").exists()


def test_int8_copy_is_close_but_not_exact(exported: tuple[Path, Path], tmp_path: Path) -> None:
    from mochat.export.onnx import check_parity, quantize_int8

    ckpt, onnx_path = exported
    int8 = quantize_int8(onnx_path, tmp_path / "encoder.int8.onnx")
    assert read_sidecar(int8).feature_dim == 32  # the sidecar travels with the copy
    err = check_parity(load_encoder(ckpt), int8, shapes=[(2, 30)]).max_abs_err
    # int8 weights: visibly different from fp32 (> 1e-4) yet still close (features ~ N(0, 1)).
    assert 1e-4 < err < 0.5, err

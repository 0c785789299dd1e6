"""Export of the skeleton encoder to ONNX and TensorRT.

This package's import is torch-free: the encoder service imports `mochat.export.sidecar`.
The exporters (`mochat.export.onnx`, `mochat.export.tensorrt`) are imported explicitly.
"""

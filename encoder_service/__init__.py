"""gRPC encoder service: skeleton windows in, per-frame features out (no torch).

Serves the exported encoder (`encoder.onnx` + its JSON sidecar, or a TensorRT engine) with
dynamic batching. Run it with `mochat serve encoder --model encoder.onnx --port PORT`.
"""

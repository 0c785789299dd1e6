"""Generated code of proto package `mochat.v1` (see protos/generate.py)."""

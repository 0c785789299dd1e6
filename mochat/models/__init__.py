"""Models shared by training and serving (need the `torch` extra)."""

from mochat.models.checkpoint import load_encoder, read_encoder_metadata, save_encoder
from mochat.models.encoder import (
    ENCODER_KINDS,
    GLTE,
    JGSE,
    EncoderConfig,
    SkeletonEncoder,
    build_encoder,
    encoder_config,
    encoder_paper,
    encoder_small,
    encoder_tiny,
)

__all__ = [
    "ENCODER_KINDS", "GLTE", "JGSE", "EncoderConfig", "SkeletonEncoder", "build_encoder",
    "encoder_config", "encoder_paper", "encoder_small", "encoder_tiny", "load_encoder",
    "read_encoder_metadata", "save_encoder",
]

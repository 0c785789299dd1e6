"""Procedural SMPL-22 motion corpus in HumanML3D layout (see generate.py)."""

from mochat.synth.actions import ACTIONS, action_variants
from mochat.synth.generate import SynthConfig, synthesize_motion, write_corpus

__all__ = ["ACTIONS", "SynthConfig", "action_variants", "synthesize_motion", "write_corpus"]

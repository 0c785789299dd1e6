"""Synthetic corpus v2: a benchmark that structure alone cannot pass.

`SynthConfig(version=2)` / `mochat synth --version 2` (v1 stays the default, byte for
byte). Same HumanML3D layout and spans/<id>.json as v1, plus composition_split.json.

- library/: 81 action types (locomotion, sports, daily life, exercise and rehab,
  acrobatics, dance), each with its sides, repetitions, tempo and amplitude ranges and
  several independent phrasings. Gaits are phase-driven leg curves (gait.py); the other
  moves are key poses interpolated with minimum-jerk or cubic splines (motion.py) in named
  anatomical DOFs (pose.py).
- physics.py: the body is carried by whatever supports it (the stance foot during
  locomotion, the hands in a cartwheel): the root is solved so the support does not slide,
  a second grounded foot is held by leg IK, heights follow the support (stairs, a box).
- plan.py: posture states (standing, seated, lying), upper-body actions over lower-body
  ones or over the other arm, action lengths and pauses drawn before the actions are
  chosen (so equal splitting given count and order fails), composition splits (splits.py).
- assemble.py: one timeline, continuous transitions between rest styles and postures,
  tremor noise; optional marker jitter (`capture_noise_m`).
- captions.py / language.py: three captions per motion that differ in structure, detail,
  subject and phrasing; counts, order words, directions and adverbs.
"""

from mochat.synth.v2.generate import synthesize_motion_v2, synthesize_v2, write_corpus_v2
from mochat.synth.v2.library import ACTIONS, action_variants

__all__ = ["ACTIONS", "action_variants", "synthesize_motion_v2", "synthesize_v2",
           "write_corpus_v2"]

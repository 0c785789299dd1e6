"""Timestamp extraction: caption -> atomic action -> joint + axis -> (start, end) frames.

The paper's pipeline (Sec. "Timestamps Extraction Pipeline"): an annotator (GLM-4 there)
names the atomic action of a caption and the joint + axis with the most significant
variation (X left-right, Y height, Z front-back); that trajectory is smoothed, its extreme
points and the differences between them are computed, and the start/end frames of the
largest variation are the action's span. Here the annotator is an interface with two
implementations: `RuleAnnotator` (keywords -> joint/axis, offline) and `LLMAnnotator`
(any OpenAI-compatible chat endpoint, configured by URL).

Signals are read in the body frame (heading from the hips and shoulders, per frame):
- `Y`: world height of the joint(s);
- `X`/`Z` of a limb joint: its offset from the pelvis along the body's left / forward axis;
- `X`/`Z` of the pelvis: distance travelled sideways / forwards (integrated displacement);
- `yaw` (an extension for turns, which no single axis shows): unwrapped heading angle.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from mochat.errors import ConfigError, MoChatError
from mochat.skeleton.layout import SMPL22, SkeletonLayout

AXES = ("X", "Y", "Z", "yaw")


@dataclass(frozen=True)
class Annotation:
    """The joint(s) and axis whose trajectory shows one atomic action."""

    action: str
    joints: tuple[str, ...]  # layout joint names; several are averaged
    axis: str  # one of AXES


class Annotator(Protocol):
    def annotate(self, action: str) -> Annotation | None:
        """Joint + axis for an atomic action text, or None when it shows no movement."""
        ...


@dataclass(frozen=True)
class ExtractorConfig:
    """Defaults chosen on the synthetic corpus's train split (`mochat synth --motions 400
    --seed 1`), never on its test split; see BENCHMARKS.md."""

    smooth_sigma_frames: float = 3.0  # Gaussian smoothing of the trajectory
    zigzag_ratio: float = 0.1  # reversals below this share of the range are noise
    merge_ratio: float = 0.35  # neighbouring swings at least this share of the largest join it
    onset_ratio: float = 0.01  # start/end move inwards until the signal departs this much
    order_margin: float = 0.2  # order prior: an action's equal share widened by this much


# ---------------------------------------------------------------- rule-based annotator

_RULES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    # (regex on the action text, joints ("{side}" is filled), axis); first match wins
    (r"\bspin|full circle|pirouette|rotat", ("pelvis",), "yaw"),
    (r"\bturn", ("pelvis",), "yaw"),
    (r"\bsit|\bseat", ("pelvis",), "Y"),
    (r"\bstand(?:s|ing)? up|\bget(?:s|ting)? up|\brise|\brises", ("pelvis",), "Y"),
    (r"\bsquat|\bcrouch|\blunge|\bkneel|\bduck", ("pelvis",), "Y"),
    (r"\bjump|\bhop|\bleap|\bskip", ("pelvis",), "Y"),
    (r"\bkick", ("{side}_ankle",), "Z"),
    (r"\bsidestep|\bstep(?:s)?(?: to the)? (?:left|right)|\bshuffl|\bstrafe", ("pelvis",), "X"),
    (r"\bwalk|\brun|\bjog|\bstep|\bpace|\bstroll|\bmarch|\bsprint|\bstride", ("pelvis",), "Z"),
    (r"\bwave|\bwaving", ("{side}_wrist",), "Y"),
    (r"\bpunch|\bjab|\bfist|\bbox", ("{side}_wrist",), "Z"),
    (r"\bthrow|\btoss|\bpitch", ("{side}_wrist",), "Y"),
    (r"\bclap|\bapplau", ("left_wrist", "right_wrist"), "Y"),
    (r"\braise|\blift|\bup\b|\breach", ("{side}_wrist",), "Y"),
    (r"\bbend|\blean|\bbow|\bstoop", ("head",), "Y"),
)


def _sides(text: str) -> tuple[str, ...]:
    lower = text.lower()
    if re.search(r"\bboth\b|\bhands\b|\barms\b|\bfeet\b|\blegs\b", lower):
        return ("left", "right")
    if re.search(r"\bleft\b", lower):
        return ("left",)
    return ("right",)  # also the default when the text names no side


class RuleAnnotator:
    """Keywords of the action text -> joint + axis; None for actions with no clear motion."""

    def annotate(self, action: str) -> Annotation | None:
        lower = action.lower()
        for pattern, joints, axis in _RULES:
            if re.search(pattern, lower):
                names: list[str] = []
                for joint in joints:
                    sides = _sides(lower) if "{side}" in joint else ("",)
                    names += [joint.format(side=s) for s in sides]
                return Annotation(action, tuple(names), axis)
        return None


# ---------------------------------------------------------------- LLM annotator

LLM_PROMPT = (
    "You label human motion. For the atomic action below, name the ONE skeleton joint and "
    "the ONE axis whose trajectory changes most while the action happens. Axes: X = "
    "left-right, Y = height, Z = front-back (use 'yaw' for turning in place). Joints: "
    "{joints}. Answer with JSON only: {{\"joint\": \"...\", \"axis\": \"X|Y|Z|yaw\"}}.\n"
    "Action: {action}"
)


@dataclass(frozen=True)
class LLMAnnotator:
    """An annotator backed by an OpenAI-compatible `/chat/completions` endpoint.

    `url` is the API base (e.g. `http://127.0.0.1:8000/v1`). A reply that names no valid
    joint/axis gives None (the action is skipped), as a malformed reply would in review.
    """

    url: str
    model: str = "default"
    api_key: str | None = None
    timeout_s: float = 30.0
    layout: SkeletonLayout = SMPL22

    def annotate(self, action: str) -> Annotation | None:
        prompt = LLM_PROMPT.format(joints=", ".join(self.layout.joint_names), action=action)
        reply = self._chat(prompt)
        match = re.search(r"\{.*\}", reply, re.DOTALL)
        if match is None:
            return None
        try:
            data = json.loads(match.group(0))
        except json.JSONDecodeError:
            return None
        joint, axis = str(data.get("joint", "")).strip(), str(data.get("axis", "")).strip()
        axis = axis if axis == "yaw" else axis.upper()
        if joint not in self.layout.joint_names or axis not in AXES:
            return None
        return Annotation(action, (joint,), axis)

    def _chat(self, prompt: str) -> str:
        body = json.dumps({"model": self.model, "temperature": 0,
                           "messages": [{"role": "user", "content": prompt}]}).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url.rstrip("/") + "/chat/completions", body,
                                         headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                payload = json.loads(response.read())
            return str(payload["choices"][0]["message"]["content"])
        except (urllib.error.URLError, TimeoutError, json.JSONDecodeError, KeyError,
                IndexError, TypeError) as err:
            raise MoChatError(f"LLM annotator at {self.url}: {err}") from err


def make_annotator(kind: str, *, url: str | None = None, model: str = "default",
                   api_key: str | None = None) -> Annotator:
    if kind == "rule":
        return RuleAnnotator()
    if kind == "llm":
        if not url:
            raise ConfigError("the llm annotator needs --llm-url (an OpenAI-compatible base)")
        return LLMAnnotator(url, model, api_key)
    raise ConfigError(f"unknown annotator {kind!r}; expected 'rule' or 'llm'")


# ---------------------------------------------------------------- trajectories


def body_frame(joints: np.ndarray, layout: SkeletonLayout = SMPL22
               ) -> tuple[np.ndarray, np.ndarray]:
    """(T, J, 3) -> unit left (T, 3) and forward (T, 3) axes in the ground plane (y up)."""
    idx = layout.index
    across = (joints[:, idx("left_hip")] - joints[:, idx("right_hip")]
              + joints[:, idx("left_shoulder")] - joints[:, idx("right_shoulder")])  # (T, 3)
    across[:, 1] = 0.0
    left = across / np.maximum(np.linalg.norm(across, axis=1, keepdims=True), 1e-8)
    forward = np.cross(left, np.array([0.0, 1.0, 0.0]))  # left x up = forward
    return left, forward


def trajectory(joints: np.ndarray, annotation: Annotation,
               layout: SkeletonLayout = SMPL22) -> np.ndarray:
    """(T, J, 3) world joints -> (T,) signal of the annotated joint(s) and axis."""
    try:
        idx = [layout.index(name) for name in annotation.joints]
    except (KeyError, ValueError) as err:
        raise ConfigError(f"annotation names a joint not in {layout.name}: {err}") from err
    if annotation.axis not in AXES:
        raise ConfigError(f"unknown axis {annotation.axis!r}; expected one of {AXES}")
    joints = joints.astype(np.float64)
    left, forward = body_frame(joints, layout)
    if annotation.axis == "yaw":
        return np.unwrap(np.arctan2(forward[:, 0], forward[:, 2]))
    point = joints[:, idx].mean(axis=1)  # (T, 3)
    if annotation.axis == "Y":
        return point[:, 1]
    direction = left if annotation.axis == "X" else forward
    root = layout.index("pelvis")
    if idx == [root]:  # the pelvis itself: distance travelled along the body axis
        step = np.diff(point, axis=0, prepend=point[:1])  # (T, 3)
        return np.cumsum((step * direction).sum(axis=1))
    return ((point - joints[:, root]) * direction).sum(axis=1)


def smooth(signal: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Gaussian smoothing along time with reflected edges."""
    if sigma_frames <= 0 or len(signal) < 3:
        return signal.astype(np.float64)
    radius = max(1, int(3 * sigma_frames))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma_frames) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(signal.astype(np.float64), radius, mode="reflect" if len(signal) > radius
                    else "edge")
    return np.convolve(padded, kernel, mode="valid")


def turning_points(signal: np.ndarray, min_swing: float) -> list[int]:
    """Extreme points of the zigzag of `signal`: reversals below `min_swing` are noise.

    Until the first swing of `min_swing` the running max and min are tracked; the earlier of
    the two is the first extreme. Afterwards a running extreme (pivot) is kept until the
    signal reverses from it by `min_swing`, which fixes it as the next extreme.
    """
    hi = lo = 0
    for t in range(1, len(signal)):
        hi = t if signal[t] > signal[hi] else hi
        lo = t if signal[t] < signal[lo] else lo
        if signal[hi] - signal[lo] >= min_swing:
            break
    else:
        return []  # never moved by min_swing: no extremes
    rising = hi > lo
    points, pivot = [min(hi, lo)], max(hi, lo)
    for t in range(pivot + 1, len(signal)):
        if (signal[t] > signal[pivot]) == rising and signal[t] != signal[pivot]:
            pivot = t
        elif abs(signal[pivot] - signal[t]) >= min_swing:
            points.append(pivot)
            rising, pivot = not rising, t
    points.append(pivot)
    return points


def largest_variation(signal: np.ndarray, config: ExtractorConfig = ExtractorConfig()
                      ) -> tuple[int, int] | None:
    """(start, end) frames of the largest variation of a 1-D trajectory (inclusive).

    Smooth; find the extremes (zigzag); the largest difference between consecutive extremes
    is the core of the action; neighbouring swings of at least `merge_ratio` of it join
    (a raise and its lowering, the strides of a walk); finally start and end move inwards
    to where the signal first departs from its extreme by `onset_ratio` of the swing, so a
    noisy rest plateau before or after the action is not counted. None when flat.
    """
    smoothed = smooth(np.asarray(signal, dtype=np.float64), config.smooth_sigma_frames)
    value_range = float(smoothed.max() - smoothed.min()) if len(smoothed) else 0.0
    if value_range <= 1e-9:
        return None
    points = turning_points(smoothed, config.zigzag_ratio * value_range)
    if len(points) < 2:
        return None
    swings = np.abs(np.diff(smoothed[points]))  # (len(points) - 1,)
    best = int(swings.argmax())
    first = last = best
    while first > 0 and swings[first - 1] >= config.merge_ratio * swings[best]:
        first -= 1
    while last < len(swings) - 1 and swings[last + 1] >= config.merge_ratio * swings[best]:
        last += 1
    start, end = points[first], points[last + 1]
    start = _onset(smoothed, start, points[first + 1], config.onset_ratio * swings[first])
    end = _onset(smoothed, end, points[last], config.onset_ratio * swings[last])
    return (min(start, end), max(start, end))


def _onset(signal: np.ndarray, extreme: int, toward: int, threshold: float) -> int:
    """First frame from `extreme` toward `toward` whose departure exceeds `threshold`."""
    step = 1 if toward > extreme else -1
    for t in range(extreme, toward, step):
        if abs(signal[t] - signal[extreme]) > threshold:
            return t - step
    return extreme


# ---------------------------------------------------------------- pipeline


@dataclass(frozen=True)
class ExtractedSpan:
    """One atomic action and its extracted span (None when not annotated or flat)."""

    action: str
    annotation: Annotation | None
    span: tuple[int, int] | None


def order_window(index: int, count: int, num_frames: int, margin: float = 0.2
                 ) -> tuple[int, int]:
    """Frames where action `index` of `count` (in caption order) may lie: its equal share of
    the motion widened by `margin` shares on each side."""
    lo = int(np.floor((index - margin) / count * num_frames))
    hi = int(np.ceil((index + 1 + margin) / count * num_frames))
    return max(0, lo), min(num_frames, hi)


def extract_span(joints: np.ndarray, action: str, annotator: Annotator, *,
                 window: tuple[int, int] | None = None,
                 config: ExtractorConfig = ExtractorConfig(),
                 layout: SkeletonLayout = SMPL22) -> ExtractedSpan:
    """Annotate one atomic action and find its span in (T, J, 3) joints (inside `window`)."""
    annotation = annotator.annotate(action)
    if annotation is None:
        return ExtractedSpan(action, None, None)
    signal = trajectory(joints, annotation, layout)
    lo, hi = window if window is not None else (0, len(signal))
    found = largest_variation(signal[lo:hi], config)
    span = (found[0] + lo, found[1] + lo) if found is not None else None
    return ExtractedSpan(action, annotation, span)


def extract_actions(joints: np.ndarray, actions: Sequence[str], annotator: Annotator, *,
                    order_prior: bool = True, config: ExtractorConfig = ExtractorConfig(),
                    layout: SkeletonLayout = SMPL22) -> list[ExtractedSpan]:
    """Spans of the atomic actions of one motion, given in the order they happen."""
    out = []
    for k, action in enumerate(actions):
        window = (order_window(k, len(actions), len(joints), config.order_margin)
                  if order_prior else None)
        out.append(extract_span(joints, action, annotator, window=window, config=config,
                                layout=layout))
    return out


def caption_actions(caption: str) -> list[str]:
    """A caption's atomic actions: its clauses, each with the caption's subject."""
    from mochat.dialogue.builders import split_clauses, split_subject

    subject, body = split_subject(caption)
    return [f"{subject.lower()} {clause}" for clause in split_clauses(body)]

"""Draw a skeleton motion as an animated GIF (matplotlib), with a frame span highlighted."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mochat.errors import ConfigError, MoChatError
from mochat.skeleton.layout import SMPL22, SkeletonLayout

_SIDE_COLOURS = {"left": "tab:blue", "right": "tab:red", "centre": "0.25"}


def _bone_colour(layout: SkeletonLayout, joint: int) -> str:
    name = layout.joint_names[joint].lower()
    side = "left" if "left" in name else "right" if "right" in name else "centre"
    return _SIDE_COLOURS[side]


def gif_frames(num_frames: int, stride: int = 1) -> range:
    """The motion frames a GIF of `num_frames` drawn at every `stride`-th frame shows."""
    if stride < 1:
        raise ConfigError(f"stride {stride}: expected 1 or more (every N-th frame is drawn)")
    return range(0, num_frames, stride)


def check_output(out: str | Path) -> None:
    """Refuse an output that is not a .gif: the motion is drawn as an animated GIF."""
    suffix = Path(out).suffix
    if suffix.lower() != ".gif":
        raise ConfigError(f"output {str(out)!r}: expected a .gif file (got "
                          f"{suffix or 'no suffix'!r}); the motion is drawn as an animated GIF")


def check_span(span: tuple[int, int] | None, num_frames: int) -> None:
    """Refuse a span outside the motion's frames 0..T-1 (inclusive, its own numbers)."""
    if span is not None:
        start, end = span
        if not 0 <= start <= end < num_frames:
            raise ConfigError(f"span {start}-{end}: expected 0 <= START <= END <= "
                              f"{num_frames - 1} (the motion's frames 0-{num_frames - 1})")


def render_motion(joints: np.ndarray, out: str | Path, *, layout: SkeletonLayout = SMPL22,
                  fps: float = 20.0, span: tuple[int, int] | None = None,
                  title: str = "", stride: int = 1) -> Path:
    """Write `joints` (T, J, 3; y up) to a GIF of the frames `gif_frames(T, stride)`.
    Frames inside `span` (inclusive, 0 <= start <= end < T) get a yellow backdrop.

    Left bones are blue, right bones red, so a viewer can check the side of an action.
    """
    check_output(out)
    check_span(span, joints.shape[0])
    frames = gif_frames(joints.shape[0], stride)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.animation import FuncAnimation, PillowWriter
    except ImportError as err:
        raise MoChatError("rendering needs matplotlib: pip install 'mochat[render]'") from err
    fig = plt.figure(figsize=(4, 4), dpi=80)
    ax = fig.add_subplot(projection="3d")
    lo, hi = joints.min(axis=(0, 1)), joints.max(axis=(0, 1))
    centre, radius = (lo + hi) / 2, max(float((hi - lo).max()) / 2, 1.0)
    lines = [ax.plot([], [], [], lw=2, color=_bone_colour(layout, j))[0]
             for _, j in layout.bones()]

    def draw(t: int) -> list:
        ax.set_facecolor((1.0, 0.95, 0.6) if span and span[0] <= t <= span[1] else "white")
        for line, (p, j) in zip(lines, layout.bones(), strict=True):
            # plot (x, z, y) so that matplotlib's vertical axis is the motion's y (up)
            line.set_data_3d([joints[t, p, 0], joints[t, j, 0]], [joints[t, p, 2], joints[t, j, 2]],
                             [joints[t, p, 1], joints[t, j, 1]])
        marker = " [span]" if span and span[0] <= t <= span[1] else ""
        ax.set_title(f"{title}\nframe {t}{marker}", fontsize=8)
        return lines

    ax.set_xlim(centre[0] - radius, centre[0] + radius)
    ax.set_ylim(centre[2] - radius, centre[2] + radius)
    ax.set_zlim(0, 2 * radius)
    ax.set_xlabel("x")
    ax.set_ylabel("z")
    ax.set_zlabel("y")
    anim = FuncAnimation(fig, draw, frames=list(frames), blit=False)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    anim.save(out, writer=PillowWriter(fps=max(1, round(fps / stride))))
    plt.close(fig)
    return out

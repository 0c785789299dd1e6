"""The v2 action library: every `Action` by name (see base.py for what an action is)."""

from __future__ import annotations

from mochat.synth.v2.library import acro_dance, daily, exercise, locomotion, sports
from mochat.synth.v2.library.base import FULL, LIE, LOWER, SIT, STAND, UPPER, Action, Ctx

REST_AFTER = daily.REST_AFTER  # actions that leave the arms in another rest style


def _registry() -> dict[str, Action]:
    out: dict[str, Action] = {}
    for module in (locomotion, sports, daily, exercise, acro_dance):
        for action in module.ACTIONS:
            if action.name in out:
                raise ValueError(f"action {action.name!r} defined twice")
            out[action.name] = action
    return out


ACTIONS: dict[str, Action] = _registry()


def action_variants() -> list[tuple[str, str]]:
    """Every (action, side) pair of the v2 library."""
    return [(name, side) for name, spec in ACTIONS.items() for side in spec.sides]


__all__ = ["ACTIONS", "FULL", "LIE", "LOWER", "REST_AFTER", "SIT", "STAND", "UPPER", "Action",
           "Ctx", "action_variants"]

"""`--help` that states defaults: one formatter for every `mochat` parser, and the defaults
of settings-backed flags (services), whose argparse default is None so that environment
variables still apply."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from typing import Any

# "default: X", "(default X)", "; default X": a help text that already names its default
# (not "(0 = its default)" or "default generation limit", which say what a value means).
_NAMES_DEFAULT = re.compile(r"default:|[(;,] ?default |%\(default\)")


def _names_default(help_text: str | None) -> bool:
    return bool(help_text and _NAMES_DEFAULT.search(help_text))


def _meaningful(default: object) -> bool:
    """A default worth printing: not None (the help says what happens then), not the False
    of an on/off flag, not an empty list of a repeatable flag, not argparse's SUPPRESS."""
    return not (default is None or default is False or default == []
                or default == argparse.SUPPRESS)


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends "(default: X)" to an option's help when X says something (`_meaningful`)
    and the help does not already name its default."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if not _meaningful(action.default) or _names_default(action.help):
            return action.help
        return super()._get_help_string(action)


def walk_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """`parser` and every subcommand parser below it."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):  # aliases share a parser
                yield from walk_parsers(sub)


def use_defaults_formatter(parser: argparse.ArgumentParser) -> None:
    """Give `parser` and all its subcommands the `DefaultsHelpFormatter`; an option without
    help but with a default gets a help line that names it (argparse shows nothing for an
    option without help, not even its default)."""
    for p in walk_parsers(parser):
        p.formatter_class = DefaultsHelpFormatter
        for action in p._actions:
            if action.option_strings and not action.help and _meaningful(action.default):
                action.help = "(default: %(default)s)"


def settings_defaults(parser: argparse.ArgumentParser, settings: Any, *,
                      extra: dict[str, object] | None = None) -> None:
    """Name the default of every flag of `parser` that a pydantic-settings field backs.

    The flags keep default None (unset = the environment's value, else the field's), so
    the field's own default goes into the help text instead, and a flag without help takes
    the field's description. `extra` gives defaults for flags whose dest is not a field
    (e.g. nested Kafka settings). On/off flags and fields without a default (or with None,
    which their help explains) get no "(default: ...)".
    """
    fields = settings.model_fields
    for action in parser._actions:
        if action.default is not None or not action.option_strings:
            continue
        field = fields.get(action.dest)
        if not action.help and field is not None and field.description:
            action.help = field.description
        if extra and action.dest in extra:
            default: object = extra[action.dest]
        elif field is not None and not field.is_required():
            default = field.get_default(call_default_factory=True)
        else:
            continue
        if (isinstance(default, bool) or not _meaningful(default)
                or _names_default(action.help)):
            continue
        shown = f"(default: {default})".replace("%", "%%")
        action.help = f"{action.help} {shown}" if action.help else shown

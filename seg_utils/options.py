"""Options declared once: a dataclass field made with :func:`option` carries its type (the annotation), default,
allowed values or range and one line of help, and everything else is derived from it.

- :func:`check_options` validates an instance (type, choices, range) with one message per fault, so a dataclass
  calls it in ``__post_init__`` instead of checking each field by hand;
- :func:`add_arguments` adds one ``--flag`` per field to an argparse parser (type, choices, default, help), and
  :func:`values_from` reads them back;
- :func:`parameter_lines` writes a notebook's ``parameters`` cell (``name: type = default  # help``), which a test
  compares with the committed notebooks;
- :func:`options_table` is the two-column table of a report's parameters.

Classes that share options inherit them (``model.TrainOptions`` <- ``study.RunOptions`` <- ``study.RunSpec`` and
``study.DatasetParams``), so a new option is one field, where it belongs, plus its use.

Example:
    >>> @dataclass(frozen=True, kw_only=True)
    ... class Opts:
    ...     epochs: int = option(50, "maximum epochs", low=1)
    ...     mode: str = option("a", "which mode", choices=("a", "b"))
    ...     def __post_init__(self):
    ...         check_options(self)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Iterable, Sequence
from typing import Any

from .errors import ConfigError

__all__ = ["option", "option_fields", "check_options", "type_ok", "add_arguments", "values_from",
           "parameter_lines", "options_table", "help_of"]

_TYPES = {"str": str, "int": int, "float": float, "bool": bool}
_WHERE = "(fix it in the notebook's parameters cell, the profile YAML or the -p / -- option)"


def option(default: Any, help: str, *, choices: Sequence[Any] | None = None, low: float | None = None,
           high: float | None = None, open_low: bool = False, open_high: bool = False, cli: bool = True) -> Any:
    """A dataclass field with its help, allowed ``choices`` or range [``low``, ``high``] (``open_*``: the bound itself
    is not allowed), and whether it becomes a command-line flag (``cli``)."""
    meta = {"help": help, "choices": tuple(choices) if choices is not None else None, "low": low, "high": high,
            "open_low": open_low, "open_high": open_high, "cli": cli}
    return dataclasses.field(default=default, metadata={"option": meta})


def option_fields(cls_or_obj: Any) -> list[dataclasses.Field]:
    """The fields of a dataclass declared with :func:`option`, in declaration order."""
    return [f for f in dataclasses.fields(cls_or_obj) if "option" in f.metadata]


def help_of(cls_or_obj: Any, name: str) -> str:
    """The help line of option ``name``."""
    return next(f.metadata["option"]["help"] for f in option_fields(cls_or_obj) if f.name == name)


def type_ok(value: Any, kind: type) -> bool:
    """``value`` is a ``kind`` (an int is a float; a bool is not an int)."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return True
    return isinstance(value, kind) and not (kind is int and isinstance(value, bool))


def _kind(f: dataclasses.Field) -> type:
    return _TYPES[f.type] if isinstance(f.type, str) else f.type


def check_options(obj: Any) -> None:
    """Validate every :func:`option` field of ``obj``: its type, its choices and its range.

    Raises:
        ConfigError: the first field that is wrong, what it should be and where to fix it.
    """
    for f in option_fields(obj):
        meta, value = f.metadata["option"], getattr(obj, f.name)
        kind = _kind(f)
        if not type_ok(value, kind):
            raise ConfigError(f"parameter {f.name}={value!r} should be {kind.__name__} {_WHERE}")
        if meta["choices"] is not None and value not in meta["choices"]:
            raise ConfigError(f"{f.name}={value!r} is not valid; choose one of: {', '.join(map(str, meta['choices']))}")
        low, high = meta["low"], meta["high"]
        too_low = low is not None and (value <= low if meta["open_low"] else value < low)
        too_high = high is not None and (value >= high if meta["open_high"] else value > high)
        if too_low or too_high:
            raise ConfigError(f"{f.name}={value!r} {_range_text(meta)} {_WHERE}")


def _range_text(meta: dict) -> str:
    low, high = meta["low"], meta["high"]
    if low is not None and high is not None:
        strict = meta["open_low"] and meta["open_high"]
        return f"must lie {'strictly ' if strict else ''}between {low:g} and {high:g}"
    if low is not None:
        return f"must be {'above' if meta['open_low'] else 'at least'} {low:g}"
    return f"must be {'below' if meta['open_high'] else 'at most'} {high:g}"


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _parse(kind: type, name: str):
    def parse(text: str) -> Any:
        if kind is bool:
            if text.lower() in ("true", "1", "yes"):
                return True
            if text.lower() in ("false", "0", "no"):
                return False
            raise argparse.ArgumentTypeError(f"{text!r} is not true or false")
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an' if kind is int else 'a'} "
                                             f"{kind.__name__}") from None
    parse.__name__ = kind.__name__  # argparse names the type in its message
    return parse


def add_arguments(parser: argparse.ArgumentParser, cls: type, skip: Iterable[str] = (),
                  defaults: dict[str, Any] | None = None) -> None:
    """One ``--flag`` per :func:`option` field of ``cls`` (those with ``cli=True``, not in ``skip``)."""
    skip, defaults = set(skip), defaults or {}
    for f in option_fields(cls):
        meta = f.metadata["option"]
        if f.name in skip or not meta["cli"]:
            continue
        default = defaults.get(f.name, f.default)
        parser.add_argument(_flag(f.name), dest=f.name, type=_parse(_kind(f), f.name), default=default,
                            choices=meta["choices"], help=f"{meta['help']} (default: {default})")


def values_from(args: argparse.Namespace, cls: type, skip: Iterable[str] = ()) -> dict[str, Any]:
    """The values :func:`add_arguments` parsed for ``cls``'s options."""
    skip = set(skip)
    return {f.name: getattr(args, f.name) for f in option_fields(cls)
            if f.name not in skip and f.metadata["option"]["cli"] and hasattr(args, f.name)}


def _literal(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str) else repr(value)


def parameter_lines(cls: type, **defaults: Any) -> list[str]:
    """A notebook's ``parameters`` cell for ``cls``: ``name: type = default  # help`` per field, in field order;
    ``defaults`` replace the declared defaults (e.g. a notebook's dataset). Every field must be an :func:`option`."""
    lines = []
    for f in dataclasses.fields(cls):
        if "option" not in f.metadata:
            raise ConfigError(f"{cls.__name__}.{f.name} is not declared with option(): it has no help line")
        value = defaults.get(f.name, f.default)
        lines.append(f"{f.name}: {_kind(f).__name__} = {_literal(value)}  # {f.metadata['option']['help']}")
    return lines


def options_table(obj: Any, first: dict[str, str] | None = None):
    """The parameters of ``obj`` as a two-column table (``parameter``, ``value``), after the ``first`` rows."""
    import pandas as pd

    first = first or {}
    values = {f.name: repr(getattr(obj, f.name)) for f in dataclasses.fields(obj) if not f.name.startswith("_")}
    return pd.DataFrame({"parameter": [*first, *values], "value": [*first.values(), *values.values()]})

"""An ablation ladder as written in the ``ablation_steps`` parameter: its steps, parsed and checked.

A ladder is comma-separated ``field=value`` changes among the data-driven options (:data:`~.grid.OPTIONS`), e.g.
``intensity=clahe,augment=xray,loss=bce_dice,schedule=cosine``; step 0 is the base, and every step keeps the
changes above it. A training budget or selection rule can be a step too (``epochs=15``, ``patience=15``,
``monitor=val_dice``, ``keep_weights=last``), so a ladder can say whether time, when training stops or which epoch is
kept carries a gain.
:mod:`.ablation` runs the ladder; :mod:`seg_utils.report` tabulates it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError
from .grid import OPTION_NAMES, OPTIONS, WHOLE_NUMBER_OPTIONS

__all__ = ["Step", "parse_ladder"]


@dataclass(frozen=True)
class Step:
    """One rung of a ladder.

    Attributes:
        index: 0 for the base, then 1, 2, ...
        option: the change this step adds, ``field=value`` (``""`` for the base).
        name: how the report names it, e.g. ``+ CLAHE``.
        changes: every change up to and including this step, ``{field: value}``.
    """

    index: int
    option: str
    name: str
    changes: dict


def parse_ladder(text: str, base_name: str = "base") -> list[Step]:
    """The steps of a ladder written as ``field=value,field=value,...`` (``""``: no ablation, no steps).

    Args:
        text: the ladder.
        base_name: how the report names step 0.

    Raises:
        ConfigError: an item is not ``field=value``, names an option outside :data:`OPTIONS` or a value outside its
            choices, or changes an option a second time (each option is added once).
    """
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        return []
    steps, changes = [Step(0, "", base_name, {})], {}
    for item in items:
        field, sep, value = (part.strip() for part in item.partition("="))
        if not sep or not field or not value:
            raise ConfigError(f"ablation step {item!r} is not field=value; write e.g. "
                              "'intensity=clahe,augment=xray,loss=bce_dice,schedule=cosine'")
        if field not in OPTIONS:
            raise ConfigError(f"ablation step {item!r}: {field!r} is not an option an ablation changes; choose from "
                              f"{', '.join(OPTIONS)}")
        if field in WHOLE_NUMBER_OPTIONS:
            if not value.isdigit() or int(value) < 1:
                raise ConfigError(f"ablation step {item!r}: {field} takes a whole number of at least 1, e.g. "
                                  f"{field}=15")
            value = int(value)
        elif value not in OPTIONS[field]:
            raise ConfigError(f"ablation step {item!r}: {field}={value!r} is not valid; choose one of: "
                              f"{', '.join(OPTIONS[field])}")
        if field in changes:
            raise ConfigError(f"ablation step {item!r} changes {field} a second time (each option is added once, "
                              "and every later step keeps it)")
        changes = {**changes, field: value}
        name = (WHOLE_NUMBER_OPTIONS[field].format(value) if field in WHOLE_NUMBER_OPTIONS
                else OPTION_NAMES.get((field, value), item))
        steps.append(Step(len(steps), f"{field}={value}", f"+ {name}", changes))
    return steps

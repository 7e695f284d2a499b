"""A notebook's namespace -> its validated parameters (:class:`~.params.DatasetParams`, :class:`~.params.TableParams`).

Papermill injects parameters as plain assignments after the ``parameters`` cell and only *warns* about a name the
notebook does not declare, so a misspelt ``-p epoch 3`` would silently train with the default. The setup cell
therefore hands ``globals()`` over once (``study.dataset_params(globals())``) and every name is checked here;
everything else in seg_utils takes explicit arguments.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError
from ..options import type_ok
from .budget import with_budget
from .params import DatasetParams, TableParams

__all__ = ["check_params", "dataset_params", "table_params", "from_namespace"]


def check_params(params: dict[str, Any], declared: dict[str, Any]) -> None:
    """Check notebook parameters against the declared ones: names and types.

    Papermill only warns about a parameter the notebook does not declare; a notebook calls this in its
    first cells so that a typo stops it with a clear message instead.

    Args:
        params: the values the notebook ended up with (``{name: value}`` of its parameters).
        declared: ``{name: default}`` as written in the notebook's parameters cell.
    """
    unknown = sorted(set(params) - set(declared))
    if unknown:
        raise ConfigError(f"unknown parameter(s) {unknown}; this notebook takes: {', '.join(sorted(declared))}")
    for name, default in declared.items():
        value = params.get(name, default)
        if default is not None and value is not None and not type_ok(value, type(default)):
            raise ConfigError(f"parameter {name}={value!r} should be {type(default).__name__} (like its default "
                              f"{default!r})")


# Names a Jupyter/IPython kernel puts into the user namespace besides the notebook's own variables.
_KERNEL_NAMES = frozenset({"In", "Out", "get_ipython", "exit", "quit", "open"})

_LITERALS = (str, int, float, bool, type(None))


def _is_literal(value: Any) -> bool:
    if isinstance(value, _LITERALS):
        return True
    if isinstance(value, list | tuple):
        return all(isinstance(v, _LITERALS) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and isinstance(v, _LITERALS) for k, v in value.items())
    return False


def _notebook_values(namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The candidate parameters among a notebook's global names.

    Why scan globals here (and only here): papermill injects parameters as plain assignments in a cell after the
    ``parameters`` cell and only *warns* about a name the notebook does not declare, so a misspelt ``-p epoch 3``
    would silently train with the default. The injected names exist nowhere but in the kernel's globals, so the
    setup cell hands ``globals()`` over once; everything else in seg_utils takes explicit arguments.

    Kept: public names bound to flat literals (str, int, float, bool, None, or lists / dicts of them), which is
    what a parameters cell and papermill's injection produce. Left out: private names (``_``, ``_i1``, ...),
    modules, IPython's own names (``In``, ``Out``, ``get_ipython``, ``exit``, ``quit``, ``open``) and any other
    object (DataFrames, figures, params objects), so re-running the setup cell after later cells is fine as long
    as later cells bind no flat literals, which the notebooks never do.
    """
    return {k: v for k, v in namespace.items()
            if not k.startswith("_") and k not in _KERNEL_NAMES and not isinstance(v, types.ModuleType)
            and _is_literal(v)}


#: Text parameters that also take a whole number (``-p parallel_runs 2`` arrives from papermill as an int).
_TEXT_OR_NUMBER = ("parallel_runs",)


def from_namespace(cls: type, namespace: Mapping[str, Any]) -> Any:
    """An instance of the parameters class ``cls`` from a notebook's namespace (names and types checked)."""
    values = _notebook_values(namespace)
    for name in _TEXT_OR_NUMBER:
        if isinstance(values.get(name), int) and not isinstance(values[name], bool):
            values[name] = str(values[name])
    declared = {f.name: f.default for f in dataclasses.fields(cls)}
    shadowed = sorted(k for k in declared if isinstance(namespace.get(k), types.ModuleType))
    if shadowed:  # an import after the parameters cell would otherwise drop the parameter's value silently
        modules = ", ".join(f"{k} -> module {namespace[k].__name__}" for k in shadowed)
        raise ConfigError(f"the parameter(s) {shadowed} are bound to a module ({modules}): an import after the "
                          "parameters cell replaced their value; import that module under another name")
    check_params(values, {k: (None if v is dataclasses.MISSING else v) for k, v in declared.items()})
    missing = [k for k, v in declared.items() if v is dataclasses.MISSING and k not in values]
    if missing:
        raise ConfigError(f"the parameters cell does not set {missing}; add them (e.g. dataset: str = 'isic2018')")
    return cls(**values)


def dataset_params(namespace: Mapping[str, Any]) -> DatasetParams:
    """Validate a dataset notebook's parameters: pass ``globals()`` from the setup cell. A ``budget`` sets the
    parameters still at their defaults (:func:`~.budget.with_budget`).

    Raises:
        ConfigError: a name that is not a parameter (listing the valid ones), a value of the wrong type, or an
            invalid value (listing the valid choices).
    """
    return with_budget(from_namespace(DatasetParams, namespace))


def table_params(namespace: Mapping[str, Any]) -> TableParams:
    """Validate a table notebook's parameters: pass ``globals()`` from the setup cell (see :func:`dataset_params`)."""
    return from_namespace(TableParams, namespace)

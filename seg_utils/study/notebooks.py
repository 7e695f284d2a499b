"""What ``run_all.sh`` runs: the study's notebooks, and for each selected one the exact papermill arguments.

run_all.sh parses its options, asks ``python -m seg_utils.study plan`` once, and runs what the plan says. The plan:

- the notebooks: every ``notebooks/NN_<kind>_<name>.ipynb`` but ``00_*`` (the Kaggle/Colab launcher that itself runs
  run_all.sh), in file-name order; ``--only`` and ``--param-for`` name them by name, name prefix (``02``) or number
  (``2``), and a profile's ``# notebooks: 01,02`` header line is the default of ``--only``;
- the parameters of a profile: ``notebooks/params/<profile>.yaml`` (dataset notebooks only), then
  ``notebooks/params/<profile>/<notebook>.yaml``, merged in that order and written to
  ``<results>/notebooks/<notebook>.params.yaml`` (papermill ``-f``); relative folders in them are taken from the
  repository root (the kernels run in ``<results>/notebooks``): ``data_root``, and in the other notebooks every
  ``*_dir`` / ``*_root`` key but ``results_dir``;
- then ``-r results_dir``, ``--data-root``, ``--device``, ``--resume-from`` and the ``-p`` options (a dataset notebook
  gets every ``-p``, and stops on an unknown one in its setup cell; another notebook gets a ``-p`` or ``--device`` only
  if it declares that parameter), and last the ``--param-for`` options of that notebook.

Every problem (an unknown notebook or profile, an unreadable YAML or notebook) raises :class:`ConfigError`; the command
prints it as one line on stderr and exits with status 2.

Example::

    python -m seg_utils.study plan --repo . --profile cpu-real --only 02,20 -p epochs 1
"""

from __future__ import annotations

import dataclasses
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError

__all__ = ["DEVICES", "NotebookRun", "Plan", "build_plan", "declared_parameters", "is_dataset_notebook", "matches",
           "profile_file", "profiles", "read_params_file", "select_notebooks", "study_notebooks", "write_plan"]

DEVICES = ("auto", "cpu", "cuda")
_NOTEBOOK = re.compile(r"(\d+)_\w+")
_LAUNCHER_PREFIX = "00_"
_ONLY_HEADER = re.compile(r"^# notebooks: *(.*?)\s*$", re.MULTILINE)


def study_notebooks(repo: str | Path) -> list[str]:
    """The notebooks run_all.sh runs, in order: every ``notebooks/NN_*.ipynb`` but the ``00_*`` launcher."""
    folder = Path(repo) / "notebooks"
    names = sorted(p.stem for p in folder.glob("*.ipynb") if _NOTEBOOK.fullmatch(p.stem))
    names = [n for n in names if not n.startswith(_LAUNCHER_PREFIX)]
    if not names:
        raise ConfigError(f"no notebooks NN_<kind>_<name>.ipynb in {folder}; pass --repo the repository root")
    return names


def is_dataset_notebook(name: str) -> bool:
    """Whether ``name`` is a dataset notebook (it takes the whole profile, not only its own file)."""
    return "_dataset_" in name


def profiles(repo: str | Path) -> list[str]:
    """The profiles: ``notebooks/params/<name>.yaml``."""
    return sorted(p.stem for p in (Path(repo) / "notebooks" / "params").glob("*.yaml"))


def profile_file(repo: str | Path, profile: str) -> Path:
    """``notebooks/params/<profile>.yaml``; :class:`ConfigError` naming the available ones if it does not exist."""
    path = Path(repo) / "notebooks" / "params" / f"{profile}.yaml"
    if profile not in profiles(repo):
        raise ConfigError(f"no profile '{profile}' (looked for {path}); see --help for the available ones: "
                          f"{', '.join(profiles(repo)) or 'none'}")
    return path


def read_params_file(path: str | Path) -> dict[str, Any]:
    """The parameters of a profile file (empty file: none); :class:`ConfigError` if unreadable or not a mapping."""
    try:
        values = yaml.safe_load(Path(path).read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the parameters file {path}: {exc}".replace("\n", " ")) from exc
    if values is None:
        return {}
    if not isinstance(values, dict) or not all(isinstance(k, str) for k in values):
        raise ConfigError(f"the parameters file {path} is not a mapping of names to values (got "
                          f"{type(values).__name__}); write one 'name: value' per line")
    return values


def _profile_only(path: Path) -> str:
    """A profile's own notebook list, its first ``# notebooks: ...`` line ('' if none)."""
    found = _ONLY_HEADER.search(path.read_text())
    return found.group(1) if found else ""


def matches(notebook: str, token: str) -> bool:
    """Whether ``token`` names ``notebook``: its name (``.ipynb`` allowed), a name prefix (``02``) or number (``2``)."""
    token = token.replace(" ", "").removesuffix(".ipynb")
    if notebook == token or notebook.startswith(f"{token}_"):
        return True
    number = _NOTEBOOK.fullmatch(notebook)
    return token.isascii() and token.isdigit() and number is not None and int(number.group(1)) == int(token)


def _check_token(token: str, notebooks: Sequence[str], option: str) -> None:
    if not any(matches(nb, token) for nb in notebooks):
        raise ConfigError(f"{option}: no notebook '{token.replace(' ', '')}'; choose from: {' '.join(notebooks)}")


def select_notebooks(notebooks: Sequence[str], only: str = "") -> list[str]:
    """The notebooks ``only`` names (comma-separated tokens, see :func:`matches`), in run order; all if empty."""
    if not only:
        return list(notebooks)
    tokens = only.split(",")
    if len(tokens) > 1 and not tokens[-1].strip():  # "02," as bash's read dropped it
        tokens = tokens[:-1]
    for token in tokens:
        _check_token(token, notebooks, "--only")
    return [nb for nb in notebooks if any(matches(nb, t) for t in tokens)]


def declared_parameters(notebook: str | Path) -> set[str]:
    """The names a notebook's ``parameters`` cell declares (papermill's own reading of it)."""
    import papermill as pm

    try:
        with warnings.catch_warnings():  # committed notebooks without cell ids: nbformat's notice, not a problem
            warnings.filterwarnings("ignore", message="Cell is missing an id field")
            return set(pm.inspect_notebook(str(notebook)))
    except Exception as exc:  # noqa: BLE001 -- any failure to read it is the user's to fix: say which file
        raise ConfigError(f"cannot read the parameters of the notebook {notebook}: {type(exc).__name__}: "
                          f"{exc}".replace("\n", " ")) from exc


def _absolute(path: str | Path) -> Path:
    """``path`` made absolute without resolving links, as ``cd DIR && pwd`` does."""
    return Path(os.path.abspath(os.path.expanduser(path)))


def _folder(path: str, option: str, hint: str = "") -> Path:
    if not Path(path).expanduser().is_dir():
        raise ConfigError(f"{option} '{path}' is not a folder{hint}")
    return _absolute(path)


def _relative(value: Any) -> bool:
    """Whether ``value`` is a non-empty relative path (a folder to take from the repository root)."""
    return isinstance(value, str) and bool(value) and not Path(value).expanduser().is_absolute()


def _resolve_folders(values: dict[str, Any], repo: Path, keys: Sequence[str]) -> dict[str, Any]:
    """``values`` with the relative folders among ``keys`` taken from ``repo``."""
    return {k: str(_absolute(repo / v)) if k in keys and _relative(v) else v for k, v in values.items()}


@dataclasses.dataclass(frozen=True)
class NotebookRun:
    """One notebook of the plan.

    Attributes:
        name: the notebook's name (``notebooks/<name>.ipynb``).
        params: the profile's parameters of this notebook, merged and with relative folders resolved (written to
            ``params_file``); ``None`` where the profile has none for it.
        params_file: where :func:`write_plan` writes ``params`` (``<results>/notebooks/<name>.params.yaml``).
        overrides: papermill's ``-r`` / ``-p`` options after the file, in order (a later one wins).
    """

    name: str
    params: dict[str, Any] | None
    params_file: Path
    overrides: tuple[str, ...]

    @property
    def papermill_args(self) -> list[str]:
        """The parameter options of papermill for this notebook: ``-f params_file`` (if any), then the overrides."""
        return (["-f", str(self.params_file)] if self.params is not None else []) + list(self.overrides)


@dataclasses.dataclass(frozen=True)
class Plan:
    """What run_all.sh runs: the results folder (absolute), the data folder it reports, and the notebooks."""

    results: Path
    data_root: str
    runs: list[NotebookRun]


def _dataset_params(repo: Path, profile: str, merged: dict[str, Any], data_overridden: bool) -> dict[str, Any]:
    value = merged.get("data_root")
    if _relative(value) and not data_overridden and not (repo / value).is_dir():
        raise ConfigError(f"profile {profile} reads its data from {value} (relative to the repository: {repo}/{value}),"
                          f" which is not a folder; pass --data-root DIR")
    return _resolve_folders(merged, repo, ["data_root"])


def build_plan(repo: str | Path, profile: str = "smoke", *, results: str | Path = "", only: str = "",
               data_root: str = "", device: str = "", resume_from: str = "",
               extra: Sequence[tuple[str, str]] = (), scoped: Sequence[tuple[str, str, str]] = ()) -> Plan:
    """The plan of ``./run_all.sh`` with these options (an empty string: the option was not given). Writes nothing.

    Args:
        repo: the repository root (holds notebooks/ and notebooks/params/).
        profile: ``--profile``.
        results: ``--results`` (default ``<repo>/results/<profile>``), relative to the working directory.
        only: ``--only`` (default: the profile's ``# notebooks:`` line, else every notebook).
        data_root: ``--data-root``; device: ``--device``; resume_from: ``--resume-from``.
        extra: the ``-p NAME VALUE`` options, in order.
        scoped: the ``--param-for NOTEBOOK NAME VALUE`` options, in order.

    Returns:
        The :class:`Plan`.

    Raises:
        ConfigError: an unknown profile, notebook or device, a folder that is not one, an unreadable YAML file or
            notebook.
    """
    repo = _absolute(repo)
    notebooks = study_notebooks(repo)
    base_file = profile_file(repo, profile)
    if device and device not in DEVICES:
        raise ConfigError(f"--device '{device}' is not one of {', '.join(DEVICES)}")
    given_data = str(_folder(data_root, "--data-root")) if data_root else ""
    resume = ",".join(str(_folder(part.strip(), "--resume-from", " (attach the previous session's output)"))
                      for part in resume_from.split(",") if part.strip())  # one folder, or several: a,b
    base = read_params_file(base_file)
    p_data = any(name == "data_root" for name, _ in extra)
    shown_data = given_data  # the data folder run_all.sh reports: --data-root, or the profile's relative one resolved
    if not given_data and not p_data and _relative(base.get("data_root")):
        shown_data = str(_absolute(repo / base["data_root"]))
    for token, _, _ in scoped:
        _check_token(token, notebooks, "--param-for")
    selected = select_notebooks(notebooks, only or _profile_only(base_file))
    results_dir = _absolute(results or repo / "results" / profile)

    runs = []
    for nb in selected:
        own_file = repo / "notebooks" / "params" / profile / f"{nb}.yaml"
        own = read_params_file(own_file) if own_file.is_file() else None
        mine = [(name, value) for token, name, value in scoped if matches(nb, token)]
        overrides = ["-r", "results_dir", str(results_dir)]
        if is_dataset_notebook(nb):
            overridden = bool(given_data) or p_data or any(name == "data_root" for name, _ in mine)
            params = _dataset_params(repo, profile, {**base, **(own or {})}, overridden)
            overrides += ["-r", "data_root", given_data] if given_data else []
            overrides += ["-r", "device", device] if device else []
            overrides += ["-r", "resume_from", resume] if resume else []
            overrides += [word for name, value in extra for word in ("-p", name, value)]
        else:
            keys = [k for k in (own or {}) if k != "results_dir" and k.endswith(("_dir", "_root"))]
            params = None if own is None else _resolve_folders(own, repo, keys)
            declared = declared_parameters(repo / "notebooks" / f"{nb}.ipynb") if (device or extra) else set()
            overrides += ["-r", "device", device] if device and "device" in declared else []
            overrides += [word for name, value in extra if name in declared for word in ("-p", name, value)]
        overrides += [word for name, value in mine for word in ("-p", name, value)]  # --param-for: last, wins
        runs.append(NotebookRun(nb, params, results_dir / "notebooks" / f"{nb}.params.yaml", tuple(overrides)))
    return Plan(results_dir, shown_data, runs)


def write_plan(plan: Plan) -> None:
    """Create ``<results>/notebooks`` and write each notebook's parameters file."""
    try:
        (plan.results / "notebooks").mkdir(parents=True, exist_ok=True)
        for run in plan.runs:
            if run.params is not None:
                run.params_file.write_text(yaml.safe_dump(run.params, sort_keys=False))
    except OSError as exc:
        raise ConfigError(f"cannot create the results folder '{plan.results}': {exc}") from exc

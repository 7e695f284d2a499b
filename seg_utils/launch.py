"""The way in from Kaggle and Colab: what ``notebooks/00_launch_kaggle_colab.ipynb`` calls (one function a cell), and
the kernel folders of ``python -m seg_utils kaggle-kernels`` (a Kaggle kernel per shard of the grid, one to merge).

:func:`install_requirements` needs the standard library only: before the requirements are installed nothing of
``seg_utils`` can be imported, so the launcher runs this file as a script (``python seg_utils/launch.py install REPO``).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
from collections import deque
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd
    from IPython.display import Markdown
if __package__:  # imported as seg_utils.launch (run as a script, only install_requirements is used)
    from .errors import ConfigError, DataError, TrainingError

__all__ = ["KAGGLE_DATASETS", "check_accelerator", "install_requirements", "find_inputs", "weight_caches",
           "pick_weights", "resume_sources", "run_study", "show_results", "write_kernels"]

#: The Kaggle copy of each dataset of the study (owner/slug), as attached by ``kaggle-kernels`` by default.
KAGGLE_DATASETS = {"isic2018": "tschandl/isic2018-challenge-task1-data-segmentation",
                   "chest_xray": "nikhilpandey360/chest-xray-masks-and-labels",
                   "cbis_ddsm": "awsaf49/cbis-ddsm-breast-cancer-image-dataset"}
LAUNCHER = Path(__file__).resolve().parents[1] / "notebooks" / "00_launch_kaggle_colab.ipynb"
#: The kernel-metadata.json that :func:`write_kernels` fills in (owner, slug, title, code file, sources).
TEMPLATE = LAUNCHER.parent / "kaggle" / "kernel-metadata.json"
#: What a kernel passes to run_all.sh besides its shard: the tschandl ISIC copy has no test masks (a held-out share).
KERNEL_EXTRA = "--param-for 01 test_source train_fraction"
_SLUG = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
_SEARCH_DEPTH = 5  # /kaggle/input/datasets/<owner>/<slug>/hub/models--smp-hub--...
_BUSY_FOLDER = 200  # a folder with more entries than this is data (CBIS-DDSM's jpeg/), not searched for caches


def check_accelerator(device: str = "auto") -> pd.DataFrame:
    """Resolve ``device`` as a run would; describe the device, torch, the GPUs (name, capability, memory) and CPUs.

    Raises:
        ConfigError: as :func:`seg_utils.model.resolve_device`: e.g. a GPU the installed torch cannot run (a Kaggle
            P100), in one line naming it and what to pick instead.
    """
    import pandas as pd
    import torch

    from .model import resolve_device

    chosen = resolve_device(device)
    rows = [("device", str(chosen)), ("torch", f"{torch.__version__} (CUDA {torch.version.cuda or 'none'})"),
            ("CPU cores", str(os.cpu_count()))]
    if chosen.type == "cuda":
        rows.append(("built for", ", ".join(torch.cuda.get_arch_list())))
        for i in range(torch.cuda.device_count()):
            major, minor = torch.cuda.get_device_capability(i)
            memory = torch.cuda.get_device_properties(i).total_memory / 2**30
            rows.append((f"GPU {i}", f"{torch.cuda.get_device_name(i)}, sm_{major}{minor}, {memory:.0f} GiB"))
    return pd.DataFrame(rows, columns=["what", "value"])


def torch_pins() -> list[str]:
    """``torch==<installed>`` and ``torchvision==<installed>`` for what is installed (standard library only)."""
    installed = {(d.metadata["Name"] or "").lower(): d.version for d in metadata.distributions()}
    return [f"{name}=={installed[name]}" for name in ("torch", "torchvision") if name in installed]


def install_requirements(repo: str | Path, stream: Callable[[str], None] = print) -> Path:
    """``pip install -r requirements.txt -c <constraints>`` in ``repo``, the constraints pinning the torch and
    torchvision already installed, so that the platform's CUDA build is kept. Standard library only. pip leaves the
    modules a live kernel has imported at their old versions: the study runs in fresh processes (:func:`run_study`).

    Returns:
        The constraints file (in the temporary folder).

    Raises:
        RuntimeError: ``repo`` has no requirements.txt, or pip failed (its last lines in the message).
    """
    repo = Path(repo).expanduser().resolve()
    if not (repo / "requirements.txt").is_file():
        raise RuntimeError(f"{repo} holds no requirements.txt, so it is not this repository's checkout: set repo_url "
                           "to clone it (Internet on; clone_to must be a new folder), or run the launcher from the "
                           "notebooks/ folder of a checkout")
    pins = torch_pins()
    constraints = Path(tempfile.gettempdir()) / "seg_utils-constraints.txt"
    constraints.write_text("".join(f"{pin}\n" for pin in pins))
    stream(f"pip: keeping {', '.join(pins) or 'no torch (none is installed)'}; constraints in {constraints}")
    cmd = [sys.executable, "-m", "pip", "install", "-q", "-r", "requirements.txt", "-c", str(constraints)]
    status, last = _stream_process(cmd, repo, stream)
    if status:
        raise RuntimeError(f"pip install exited with status {status}: {' | '.join(last)}")
    return constraints


def find_inputs(input_root: str | Path) -> pd.DataFrame:
    """What is attached under ``input_root``: each dataset of the study and a folder of one's own (``images/`` +
    ``masks/``, profile yours): where, and its images and masks per split; and each Hugging Face weights cache.

    Returns:
        One row per dataset and cache: ``input``, ``found`` (yes/no), ``where``, ``what`` (counts, or ``not found:``
        and the adapter's message).
    """
    import pandas as pd

    from .data import build_manifest
    from .study.grid import STUDY_DATASETS

    root, rows = Path(input_root).expanduser(), []
    for name in STUDY_DATASETS:
        try:
            df = build_manifest(name, root, unsplit="train")
        except DataError as exc:
            rows.append((name, "no", "", f"not found: {exc}"))
            continue
        where = os.path.commonpath([str(Path(p).parent) for p in df.image_path if p])
        counts = [f"{split}: {len(g)} images, {int((g.mask_path != '').sum())} with masks"
                  for split, g in df.groupby("split", sort=False)]
        rows.append((name, "yes", where, "; ".join(counts)))
    caches = weight_caches(root)
    rows += [("weights", "yes", str(c), ", ".join(sorted(p.name for p in c.glob("models--smp-hub--*"))))
             for c in caches]
    rows += [] if caches else [("weights", "no", "", "no Hugging Face cache (models--smp-hub--*): the ImageNet "
                                "weights are downloaded (Internet on), or pass -p weights none")]
    return pd.DataFrame(rows, columns=["input", "found", "where", "what"])


def weight_caches(input_root: str | Path) -> list[Path]:
    """The folders below ``input_root`` (a few levels) that directly hold ``models--smp-hub--*`` folders."""
    found, level = [], [Path(input_root).expanduser()]
    for _ in range(_SEARCH_DEPTH):
        below = []
        for folder in level:
            try:
                subs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
            except OSError:
                continue
            if any(p.name.startswith("models--smp-hub--") for p in subs):
                found.append(folder)
            elif len(subs) <= _BUSY_FOLDER:
                below += subs
        level = below
    return found


def pick_weights(weights: str, input_root: str | Path) -> str:
    """The ``weights`` run_all.sh gets: ``auto`` -> the one attached cache, or ``""`` (the profile's) where there is
    none; anything else as given. Raises ConfigError for ``auto`` with several caches attached (name one)."""
    if weights != "auto":
        return weights
    caches = weight_caches(input_root)
    if len(caches) > 1:
        raise ConfigError(f"weights='auto' found {len(caches)} weights caches: {', '.join(map(str, caches))}; set "
                          "weights to one of them")
    return str(caches[0]) if caches else ""


def resume_sources(resume_from: str, input_root: str | Path) -> list[Path]:
    """The folders of ``resume_from`` (one, or several separated by commas). A missing one is looked for by its name up
    to 3 levels below ``input_root`` (Kaggle may mount an attached output deeper than /kaggle/input/<slug>).

    Raises:
        ConfigError: a folder found nowhere, or twice, below ``input_root``.
    """
    from .study.resume import split_sources

    folders, root = [], Path(input_root).expanduser()
    for folder in split_sources(resume_from):
        hits = [folder] if folder.is_dir() else [h for pattern in ("", "*/", "*/*/")
                                                 for h in sorted(root.glob(f"{pattern}{folder.name}")) if h.is_dir()]
        if len(hits) != 1:
            raise ConfigError(f"resume_from: {folder} is not a folder, and {len(hits)} folders named {folder.name!r} "
                              f"are below {input_root}; attach that output (Add data -> Notebook output files) and "
                              "pass its path")
        folders.append(hits[0])
    return folders


def run_study(repo: str | Path, profile: str, data_root: str | Path, results: str | Path, resume_from: str = "",
              extra: str = "", weights: str = "", stream: Callable[[str], None] = print) -> int:
    """Run ``./run_all.sh --profile PROFILE --data-root DATA_ROOT --results RESULTS ...`` in ``repo`` and stream its
    output, line by line, as it comes.

    Args:
        repo: the repository's checkout.
        profile, data_root, results: run_all.sh's ``--profile``, ``--data-root`` and ``--results``.
        resume_from: ``""``, an earlier output (``--resume-from``), or several separated by commas (the shards'
            outputs, passed as ``-p resume_from``): :func:`resume_sources`.
        extra: further run_all.sh options as one string, split as a shell would; last, so its ``-p weights`` wins.
        weights: ``""`` (the profile's) or the dataset notebooks' ``weights`` parameter (a cache folder, none, ...).
        stream: called with each output line (default: print it).

    Returns:
        0, run_all.sh's exit status.

    Raises:
        ConfigError: ``extra`` cannot be split, or a resume_from folder is missing.
        TrainingError: run_all.sh exited non-zero (its last lines in the message); a rerun continues where it stopped.
    """
    repo = Path(repo).expanduser().resolve()
    try:
        options = shlex.split(extra)
    except ValueError as exc:
        raise ConfigError(f"extra={extra!r} cannot be split as shell words ({exc}); check its quotes") from None
    cmd = ["bash", str(repo / "run_all.sh"), "--profile", profile, "--data-root", str(data_root), "--results",
           str(results)]
    if resume_from.strip():
        sources = [str(s) for s in resume_sources(resume_from, data_root)]
        cmd += ["--resume-from", sources[0]] if len(sources) == 1 else ["-p", "resume_from", ",".join(sources)]
    cmd += (["-p", "weights", weights] if weights else []) + options
    stream("$ " + shlex.join(cmd))
    status, last = _stream_process(cmd, repo, stream)
    if status:
        raise TrainingError(f"run_all.sh exited with status {status}; its last lines:\n" + "\n".join(last)
                            + "\nfix the cause and run this cell again: complete runs are skipped, interrupted ones "
                            "resume")
    return status


def _stream_process(cmd: list[str], cwd: Path, stream: Callable[[str], None]) -> tuple[int, list[str]]:
    """Run ``cmd`` (stderr into stdout), each line to ``stream`` as it comes; returns ``(status, last lines)``. An
    interrupt (the cell's stop button) stops the whole process group."""
    last: deque[str] = deque(maxlen=15)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                            env=env, start_new_session=True, errors="replace")
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            last.append(line)
            stream(line)
        return proc.wait(), list(last)
    except BaseException:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait()
        raise


def show_results(results: str | Path) -> Markdown:
    """Where the reports are, and the poster's two tables as the table notebooks wrote them (``tables/*.md``), or the
    recommendation of a study on one's own data (``summaries/recommendation.json``)."""
    from IPython.display import Markdown

    from .study.run_folder import RECOMMENDATION

    results = Path(results).expanduser().resolve()
    index, mine = results / "index.html", results / "summaries" / RECOMMENDATION
    parts = [f"**Reports:** `{index}`" if index.is_file() else f"**No index at `{index}`**: run_all.sh did not finish"]
    parts += [f"### {a['data']}\n\n{a['answer']}" for a in ([json.loads(mine.read_text())] if mine.is_file() else [])]
    for name, what in (("table1_encoders", "Table 1"), ("table2_losses", "Table 2")):
        path = results / "tables" / f"{name}.md"
        if path.is_file() or not mine.is_file():
            parts.append(path.read_text() if path.is_file() else f"*{what} not written ({path} is missing).*")
    return Markdown("\n\n".join(parts))


def _set_parameters(source: str, values: dict[str, str | bool]) -> str:
    """A ``parameters`` cell's source (lines ``name: type = value  # comment``) with the values of ``values``."""
    lines, seen = [], set()
    for line in source.splitlines():
        match = re.fullmatch(r"(\w+): (\w+) = (.+?)(  # .*)", line)
        if match and match.group(1) in values:
            value = values[match.group(1)]
            line = f"{match.group(1)}: {match.group(2)} = {json.dumps(value) if isinstance(value, str) else value}" \
                   f"{match.group(4)}"
            seen.add(match.group(1))
        lines.append(line)
    if set(values) - seen:
        raise ConfigError(f"the launcher notebook has no parameter {sorted(set(values) - seen)}")
    return "\n".join(lines)


def _kernel(folder: Path, slug: str, owner: str, values: dict[str, str | bool], gpu: bool, datasets: list[str],
            kernels: list[str], launcher: Path) -> Path:
    """One kernel folder: the launcher notebook with ``values`` set, and its kernel-metadata.json."""
    nb = json.loads(launcher.read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    cell["source"] = _set_parameters("".join(cell["source"]), values).splitlines(keepends=True)
    nb["metadata"]["kaggle"] = {"accelerator": "nvidiaTeslaT4" if gpu else "none", "isGpuEnabled": gpu,
                                "isInternetEnabled": True, "language": "python", "sourceType": "notebook"}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{slug}.ipynb").write_text(json.dumps(nb, indent=1) + "\n")
    meta = {**json.loads(TEMPLATE.read_text()), "id": f"{owner}/{slug}", "code_file": f"{slug}.ipynb",
            "title": slug.replace("-", " ").capitalize(), "enable_gpu": gpu, "dataset_sources": datasets,
            "kernel_sources": kernels}
    if not gpu:  # the template's machine_shape (NvidiaTeslaT4: GPU T4 x2; without it Kaggle gives a P100)
        del meta["machine_shape"]
    (folder / "kernel-metadata.json").write_text(json.dumps(meta, indent=2) + "\n")
    return folder


def write_kernels(out: str | Path, shards: int, owner: str, repo_url: str, slug_prefix: str = "seg-study",
                  profile: str = "paper", datasets: list[str] | None = None, extra: str = KERNEL_EXTRA,
                  launcher: str | Path = LAUNCHER) -> list[Path]:
    """Write ``out/shard-1`` ... ``out/shard-N`` (GPU T4 x2 kernels, each running the launcher with ``-p shard K/N``
    into /kaggle/working/results) and ``out/merge`` (a CPU kernel with the shard kernels as its sources: it brings in
    their runs with ``resume_from``, trains nothing, and renders every table and report).

    Each folder holds ``kernel-metadata.json`` and the launcher notebook (``launcher``) with its parameters set:
    ``repo_url`` cloned (Internet on), ``profile``, ``extra`` (the same for every kernel, so that the merge names the
    same runs). Slugs: ``<slug_prefix>-shard-K-of-N`` and ``<slug_prefix>-merge-of-N``, owned by ``owner``; the
    ``datasets`` attached default to the template's (:data:`TEMPLATE`).

    Returns:
        The shard folders, then the merge folder.

    Raises:
        ConfigError: fewer than 1 shard, an owner, prefix or dataset that is not a Kaggle slug, or no repo_url.
    """
    if shards < 1:
        raise ConfigError(f"--shards {shards}: give at least 1 (e.g. 3: three kernels share the grid)")
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", owner or ""):
        raise ConfigError(f"owner={owner!r}: pass your Kaggle username (--owner, lowercase), or set KAGGLE_USERNAME")
    if not _SLUG.fullmatch(slug_prefix) or len(f"{slug_prefix}-merge-of-{shards}") > 50:
        raise ConfigError(f"slug prefix {slug_prefix!r} must be lowercase letters, digits and single hyphens, short "
                          "enough for a 50-character slug (e.g. seg-study)")
    if not repo_url:
        raise ConfigError("a kernel clones the repository: pass --repo-url (a git URL it can reach with Internet on)")
    datasets = json.loads(TEMPLATE.read_text())["dataset_sources"] if datasets is None else datasets
    bad = [d for d in datasets if not re.fullmatch(r"[\w.-]+/[a-z0-9-]+", d)]
    if bad:
        raise ConfigError(f"datasets {bad} are not Kaggle slugs owner/dataset-slug")
    base = {"repo_url": repo_url, "install": True, "device": "auto", "input_root": "/kaggle/input", "weights": "auto",
            "profile": profile, "results_dir": "/kaggle/working/results"}
    out, launcher = Path(out), Path(launcher)
    slugs = [f"{slug_prefix}-shard-{k}-of-{shards}" for k in range(1, shards + 1)]
    folders = [_kernel(out / f"shard-{k}", slug, owner, {**base, "resume_from": "",
                                                         "extra": f"-p shard {k}/{shards} {extra}".strip()},
                       True, datasets, [], launcher) for k, slug in enumerate(slugs, start=1)]
    merge = {**base, "resume_from": ",".join(f"/kaggle/input/{s}" for s in slugs),
             "extra": f"-p train False {extra}".strip()}
    folders.append(_kernel(out / "merge", f"{slug_prefix}-merge-of-{shards}", owner, merge, False, datasets,
                           [f"{owner}/{s}" for s in slugs], launcher))
    return folders


def main(argv: list[str] | None = None) -> int | str:
    """``python seg_utils/launch.py install REPO``: :func:`install_requirements` before seg_utils can be imported;
    returns the exit status, or the error (``sys.exit`` prints it and exits with status 1)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "install":
        return f"usage: python {__file__} install REPO"
    try:
        install_requirements(args[1])
    except RuntimeError as exc:
        return f"error: {exc}"
    return 0


if __name__ == "__main__":
    sys.exit(main())

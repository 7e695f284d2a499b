"""Publishing a results folder: the files a reader needs, copied from a working results folder, with an index that
links only what was copied; and the link check that proves it.

A working results folder holds much that is not for publishing: checkpoints, test predictions, caches, the executed
notebooks (their outputs are in the reports) and the HTML with code (it shows this machine's paths), the PDFs
beside each PNG, the papermill logs. :data:`PUBLISHED` declares, in one place, what is published; the repository's
``.gitignore`` keeps ``results/cpu-real`` to the same list, and a test checks that they agree.

Example::

    python -m seg_utils.report publish results/cpu-real-work results/cpu-real --replace
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterable
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..errors import ConfigError, DataError
from ..study.run_folder import CARD, ENVIRONMENT, FAILED, HISTORY, METRICS, PER_IMAGE, SPEC, SPLITS
from ..study.summary import SUMMARIES
from .html import READER_SUFFIX, build_index

__all__ = ["RUN_RECORDS", "PUBLISHED", "published_files", "publish", "page_links", "broken_links"]

#: The files of a run folder that are published: its records, never its weights or predictions.
RUN_RECORDS = (SPEC, METRICS, PER_IMAGE, HISTORY, SPLITS, ENVIRONMENT, CARD, FAILED)
#: What a published results folder holds, as glob patterns relative to it (``**``: any depth), besides the
#: ``index.html`` that :func:`publish` rebuilds there. Never checkpoints, predictions, caches, executed notebooks,
#: the HTML with code, PDFs or logs.
PUBLISHED = (f"notebooks/*{READER_SUFFIX}", "tables/*.csv", "tables/*.md", f"{SUMMARIES}/*.json",
             "figures/**/*.png", *(f"runs/*/*/{name}" for name in RUN_RECORDS))
_INDEX = "index.html"


def published_files(results: str | Path) -> list[Path]:
    """The files of ``results`` that :data:`PUBLISHED` names (hidden ones, and runs without an outcome yet, left
    out), relative to it, sorted."""
    results = Path(results)
    found = {p.relative_to(results) for pattern in PUBLISHED for p in results.glob(pattern) if p.is_file()}
    return sorted(p for p in found if not any(part.startswith(".") for part in p.parts) and _finished(results, p))


def _finished(results: Path, path: Path) -> bool:
    """False for the records of a run still training or interrupted (neither metrics.json nor failed.json): it is
    published once it has an outcome."""
    if path.parts[0] != "runs" or len(path.parts) != 4:
        return True
    run = results / Path(*path.parts[:3])
    return (run / METRICS).is_file() or (run / FAILED).is_file()


def _check_folders(src: Path, dest: Path, replace: bool) -> None:
    if not (src / SUMMARIES).is_dir() and not (src / "runs").is_dir():
        raise ConfigError(f"{src} is not a results folder (no {SUMMARIES}/ or runs/); pass the folder run_all.sh "
                          "wrote (--results)")
    if dest == src or dest.is_relative_to(src) or src.is_relative_to(dest):
        raise ConfigError(f"publish {src} -> {dest}: the two folders must be apart (neither inside the other); "
                          "publish into a folder of its own, e.g. results/cpu-real")
    if dest.exists() and any(dest.iterdir()):
        if not replace:
            raise ConfigError(f"{dest} is not empty; pass --replace to replace it with the published files")
        if not (dest / _INDEX).is_file():
            raise ConfigError(f"{dest} holds no {_INDEX}, so it is not a published results folder; --replace only "
                              "replaces one (publish into an empty or new folder instead)")


def publish(src: str | Path, dest: str | Path, replace: bool = False) -> Path:
    """Copy the publishable files of a working results folder (:data:`PUBLISHED`) to ``dest`` and build its index
    there (:func:`~.html.build_index`, which links only files that exist), then check every link of the published
    reports, tables and index (:func:`broken_links`).

    Args:
        src: the working results folder (what ``./run_all.sh --results SRC`` wrote).
        dest: the published folder, e.g. ``results/cpu-real`` (the one ``.gitignore`` lets git track).
        replace: replace ``dest`` when it holds a published folder already (its files are deleted first, so none
            from an earlier study is left behind).

    Returns:
        The published ``index.html``.

    Raises:
        ConfigError: ``src`` is not a results folder, the folders overlap, or ``dest`` is not empty (and not a
            published folder to replace).
        DataError: a published page links a file that is not there (the message lists them).
    """
    src, dest = Path(src).resolve(), Path(dest).resolve()
    _check_folders(src, dest, replace)
    if dest.exists():
        shutil.rmtree(dest)
    for rel in published_files(src):
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / rel, dest / rel)  # keeps the times: a model card stays newer than its metrics.json
    index = build_index(dest)
    broken = broken_links(dest)
    if broken:
        raise DataError(f"the published folder {dest} has {len(broken)} broken link(s), e.g. {broken[:5]}: a report "
                        "links a file that is not published")
    return index


# ------------------------------------------------------------------------------------------------ links

class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.links += [v for k, v in attrs if k in ("href", "src") and v]


_MARKDOWN_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def page_links(page: str | Path) -> list[str]:
    """The relative links of an HTML or Markdown page (``href``/``src`` attributes, and ``[text](target)`` in
    Markdown), without their ``#anchor`` or ``?query``: anchors within a page, links with a scheme (``http:``,
    ``https:``, ``mailto:``, ``data:``) and absolute URLs are left out."""
    page = Path(page)
    text = page.read_text(encoding="utf-8", errors="replace")
    parser = _Links()
    parser.feed(text)
    links = parser.links + (_MARKDOWN_LINK.findall(text) if page.suffix == ".md" else [])
    out = []
    for link in links:
        parts = urlsplit(link.strip())
        if parts.scheme or parts.netloc or not parts.path or parts.path.startswith("/"):
            continue
        out.append(unquote(parts.path))
    return out


def broken_links(folder: str | Path, pages: Iterable[str | Path] | None = None,
                 exists: Callable[[Path], bool] | None = None) -> list[str]:
    """Every relative link of the pages that does not resolve to a file, as ``page -> target``.

    Args:
        folder: the results folder.
        pages: the pages to read (default: every ``.html`` and ``.md`` under ``folder``).
        exists: whether a link's target (an absolute, normalised path) counts as there (default: it is a file),
            e.g. whether git tracks it.
    """
    folder = Path(folder).resolve()
    pages = sorted(p for p in folder.rglob("*") if p.suffix in (".html", ".md")) if pages is None else pages
    exists = exists or Path.is_file
    broken = []
    for page in map(Path, pages):
        for link in page_links(page):
            target = Path(os.path.normpath(page.resolve().parent / link))  # a/b/../c -> a/c, as a browser does
            if not exists(target):
                broken.append(f"{page.resolve().relative_to(folder).as_posix()} -> {link}")
    return broken


"""Reports of an executed study: HTML renderings of the notebooks, failure messages, ``results/index.html``.

Used by ``run_all.sh`` through ``python -m seg_utils.report`` (:mod:`seg_utils.report.__main__`), which also
publishes a results folder (:mod:`.publish`).

``render`` writes, beside each executed notebook, ``<stem>.html`` (with code) and ``<stem>.report.html`` (the
reader's version: nbconvert's ``--no-input``, i.e. no code cells and no prompts), all in one process (importing
nbconvert costs more than rendering). ``index`` links every report, table (CSV + Markdown, shown inline) and figure
(PNG, and PDF where there is one) under the results folder, grouped by the notebook that made it (from
``summaries/<name>.json``, written by ``study.write_summary``), and opens with what differs from the poster
(:mod:`.deviations`). It links only files that exist, so it can be rebuilt in a folder that holds a subset (a
published one).
"""

from __future__ import annotations

import html
import os
from datetime import datetime
from pathlib import Path

import pandas as pd

from ..data.paths import shown_path
from ..study.params import FOLDER_KEY_PREFIX
from ..study.summary import summary_path
from .deviations import dataset_names, deviation_box
from .display import format_value
from .results import read_summaries

__all__ = ["READER_SUFFIX", "render", "notebook_error", "build_index"]

#: The reader's version of a rendered notebook (no code).
READER_SUFFIX = ".report.html"


def render(notebook: str | Path) -> list[Path]:
    """Render an executed notebook to ``<stem>.html`` (with code) and ``<stem>.report.html`` (without).

    Returns:
        The two HTML paths.
    """
    import nbformat
    from nbconvert import HTMLExporter

    notebook = Path(notebook)
    nb = nbformat.read(notebook, as_version=4)
    out = []
    for suffix, options in ((".html", {}),
                            (READER_SUFFIX, {"exclude_input": True, "exclude_input_prompt": True,
                                              "exclude_output_prompt": True})):
        body, _ = HTMLExporter(**options).from_notebook_node(nb, resources={"metadata": {"name": notebook.stem}})
        target = notebook.with_name(notebook.stem + suffix)
        target.write_text(body, encoding="utf-8")
        out.append(target)
    return out


def notebook_error(notebook: str | Path) -> str:
    """The failing cell of a partially executed notebook: ``cell N (execution count): EName: evalue``.

    Papermill writes the notebook up to the failing cell, whose outputs hold the error (the same ``ename`` and
    ``evalue`` as the ``PapermillExecutionError``).
    """
    import nbformat

    try:
        nb = nbformat.read(Path(notebook), as_version=4)
    except (OSError, ValueError) as exc:
        return f"(the executed notebook {notebook} cannot be read: {exc})"
    for i, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                first = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
                return (f"cell {i} (execution count {cell.get('execution_count')}: {first!r}): "
                        f"{output.get('ename')}: {output.get('evalue')}")
    return "no cell holds an error (the kernel may have died, e.g. out of memory; see the log)"


# ------------------------------------------------------------------------------------------------ index

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{margin-bottom:.2em} h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
.meta{color:#666} .warn{background:#fff4e5;border:1px solid #f0b060;padding:.6em 1em;border-radius:6px}
table.files{border-collapse:collapse;width:100%} table.files td,table.files th{border-bottom:1px solid #eee;
padding:.35em .5em;text-align:left;vertical-align:top}
table.data{border-collapse:collapse;font-size:.85em;margin:.5em 0} table.data td,table.data th{border:1px solid #ddd;
padding:.2em .45em;text-align:right} table.data th{background:#f5f5f5}
.figs{display:flex;flex-wrap:wrap;gap:1em} figure{margin:0;width:560px;max-width:100%}
figure img{width:100%;border:1px solid #ddd;cursor:zoom-in}
figcaption{font-size:.85em;color:#444} details{margin:.4em 0;overflow-x:auto} summary{cursor:pointer}
.missing{color:#b00}
"""


def _link(path: Path, base: Path, text: str | None = None) -> str:
    """A link to ``path`` relative to ``base``; empty where ``path`` is not a file (the index links only what
    exists)."""
    if not path.is_file():
        return ""
    rel = os.path.relpath(path, base).replace(os.sep, "/")
    return f'<a href="{html.escape(rel)}">{html.escape(text or path.name)}</a>'


def _joined(*links: str) -> str:
    return " · ".join(x for x in links if x)


INDEX_ROWS = 40
"""Rows of a table the index shows inline; a longer table (e.g. per-image predictions) says how many more its file
holds."""


def _table_html(csv: Path) -> str:
    try:
        df = pd.read_csv(csv)
    except (OSError, ValueError, pd.errors.EmptyDataError):
        return "<p class='missing'>(cannot read)</p>"
    if df.empty:
        return "<p>(empty table)</p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    cols = [str(c) for c in df.columns]
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(format_value(v, c))}</td>" for v, c in zip(r, cols, strict=True))
                   + "</tr>" for r in df.head(INDEX_ROWS).itertuples(index=False))
    more = (f"<p>the first {INDEX_ROWS} of {len(df)} rows; all of them in {html.escape(csv.name)}</p>"
            if len(df) > INDEX_ROWS else "")
    return f"<table class='data'><tr>{head}</tr>{rows}</table>{more}"


def _md_title(md: Path) -> str:
    try:
        first = md.read_text(encoding="utf-8").splitlines()[0]
    except (OSError, IndexError):
        return md.stem
    return first.lstrip("# ").strip() or md.stem


def _tables_section(results: Path, csvs: list[Path], open_names: tuple[str, ...]) -> str:
    parts = []
    for csv in csvs:
        md = csv.with_suffix(".md")
        title = _md_title(md) if md.is_file() else csv.stem
        is_open = " open" if csv.stem in open_names else ""
        parts.append(f"<details{is_open}><summary><b>{html.escape(title)}</b> <code>{html.escape(csv.stem)}</code> "
                     f"({_joined(_link(csv, results, 'csv'), _link(md, results, 'md'))})</summary>{_table_html(csv)}"
                     "</details>")
    return "\n".join(parts)


def _figures_section(results: Path, pngs: list[Path]) -> str:
    """Each figure shown at the page's half width, the picture a link to the full-size image."""
    cards = []
    for png in pngs:
        rel = html.escape(png.relative_to(results).as_posix())
        links = _joined(_link(png, results, "full size"), _link(png.with_suffix(".pdf"), results, "pdf"))
        cards.append(f'<figure><a href="{rel}" title="full size"><img src="{rel}" alt="{rel}" loading="lazy"></a>'
                     f"<figcaption>{rel} ({links})</figcaption></figure>")
    return f"<div class='figs'>{''.join(cards)}</div>" if cards else ""


def _titles(results: Path) -> dict[str, str]:
    """Each notebook's heading, naming the release read where it is not the poster's (:func:`dataset_names`)."""
    names = dataset_names(results)
    return {
        "table_encoders": f"Table 1: encoder comparison ({names['isic2018']}, BCE)",
        "table_losses": "Table 2: loss comparison (BCE vs Log-Cosh Dice)",
        "table_literature": "CBIS-DDSM literature comparison and data-quality counts",
        "dataset_isic2018": f"{names['isic2018']} (skin lesions)",
        "dataset_chest_xray": "Chest X-ray (Shenzhen to Montgomery)",
        "dataset_cbis_ddsm": "CBIS-DDSM (masses)",
        "predict": "Predictions of a trained run on a folder of images",
    }


def _summary_name(notebook_stem: str) -> str:
    """``01_dataset_isic2018`` -> ``dataset_isic2018``: the name its summary has."""
    head, _, rest = notebook_stem.partition("_")
    return rest if head.isdigit() and rest else notebook_stem


#: The notebook on one's own data (``04_dataset_yours``) names its summaries after the data: ``dataset_folder-<name>``.
_YOURS_NOTEBOOK, _YOURS_SUMMARY = "dataset_yours", f"dataset_{FOLDER_KEY_PREFIX}"


def _wrote(notebook_stem: str, summary: str) -> bool:
    """Whether the notebook ``notebook_stem`` writes the summary named ``summary``."""
    name = _summary_name(notebook_stem)
    return summary == name or (name == _YOURS_NOTEBOOK and summary.startswith(_YOURS_SUMMARY))


def _title(summary: dict, titles: dict[str, str]) -> str:
    """A summary's section heading: its dataset's title, ``Your data: <name>`` for one's own data, else its name."""
    name = summary["notebook"]
    if name in titles:
        return titles[name]
    if name.startswith(_YOURS_SUMMARY):
        return f"Your data: {summary.get('parameters', {}).get('name') or name[len(_YOURS_SUMMARY):]}"
    return name


def _notebook_stems(results: Path) -> list[str]:
    """The notebooks of the results folder: those with an executed copy, a rendering or a log."""
    folder = results / "notebooks"
    stems = {p.name.removesuffix(READER_SUFFIX) if p.name.endswith(READER_SUFFIX) else p.stem
             for p in folder.glob("*") if p.suffix in (".ipynb", ".html", ".log") and p.is_file()}
    return sorted(stems)


def _notebooks_section(results: Path, by_name: dict[str, dict], claimed: set[str]) -> str:
    rows = []
    for stem in _notebook_stems(results):
        nb = results / "notebooks" / f"{stem}.ipynb"
        files = (nb.with_name(stem + READER_SUFFIX), nb.with_suffix(".html"), nb, nb.with_suffix(".log"))
        links = _joined(*(_link(p, results, t) for p, t in zip(files, ("report", "with code", "notebook", "log"),
                                                                  strict=True)))
        if not files[0].is_file():
            links = "<span class='missing'>no report</span>" + (f" · {links}" if links else "")
        done = next((by_name[n] for n in sorted(by_name) if _wrote(stem, n)), None)
        state = (f"finished {html.escape(done.get('finished', '?'))}" if done
                 else "<span class='missing'>no summary: failed or still running</span>")
        rows.append(f"<tr><td><b>{html.escape(stem)}</b></td><td>{links}</td><td>{state}</td></tr>")
        claimed.update(p.relative_to(results).as_posix() for p in files if p.is_file())
    if not rows:
        return "<h2>Notebooks</h2><p class='missing'>no executed notebook yet</p>"
    return ("<h2>Notebooks</h2><table class='files'><tr><th>notebook</th><th>reports</th><th>status</th></tr>"
            + "".join(rows) + "</table>")


def _section_order(summary: dict) -> tuple[int, str]:
    """The comparison tables first (the poster's headline numbers), then the datasets, then anything else."""
    names = ["table_encoders", "table_losses", "table_literature", "dataset_isic2018", "dataset_chest_xray",
             "dataset_cbis_ddsm", "predict"]
    name = summary.get("notebook", "")
    return (names.index(name) if name in names else len(names), name)


def build_index(results: str | Path) -> Path:
    """Write ``<results>/index.html``: what differs from the poster (:func:`~.deviations.deviation_box`), then every
    report, table and figure, grouped by notebook. Only files that exist are linked.

    Returns:
        The index path.
    """
    results = Path(results).resolve()
    summaries = [s for s in read_summaries(results) if "notebook" in s]  # a notebook's, not e.g. a recommendation
    claimed: set[str] = set()
    body = [f"<h1>Segmentation study: results</h1><p class='meta'>{html.escape(shown_path(results))} · index written "
            f"{datetime.now().strftime('%Y-%m-%d %H:%M')}</p>", deviation_box(results)]
    synthetic = [s["notebook"] for s in summaries if "data_root" in s.get("parameters", {})
                 and not s["parameters"]["data_root"]]
    if synthetic:
        body.append(f"<p class='warn'><b>Synthetic data.</b> {html.escape(', '.join(synthetic))} ran on the "
                    "synthetic demo data (the smoke profile): these numbers show that the pipeline works end to "
                    "end; they are not comparable with the poster's. Run <code>./run_all.sh --profile paper "
                    "--data-root DIR</code> for the real study.</p>")
    by_name = {s["notebook"]: s for s in summaries}
    body.append(_notebooks_section(results, by_name, claimed))
    titles = _titles(results)
    main_tables = ("table1_encoders", "table2_losses", "literature_cbis_ddsm", "quality")
    for s in sorted(summaries, key=_section_order):
        arts = [results / a for a in s.get("artefacts", [])]
        csvs = [a for a in arts if a.suffix == ".csv" and a.is_file()]
        pngs = [a for a in arts if a.suffix == ".png" and a.is_file()]
        claimed.update(a.relative_to(results).as_posix() for a in arts if a.is_file() and a.is_relative_to(results))
        claimed.update(a.with_suffix(".md").relative_to(results).as_posix() for a in csvs)
        summary_file = summary_path(results, s["notebook"])
        claimed.add(summary_file.relative_to(results).as_posix())
        report = results / "notebooks" / next((f"{stem}{READER_SUFFIX}" for stem in _notebook_stems(results)
                                               if _wrote(stem, s["notebook"])), "-")
        links = _joined(f"finished {html.escape(s.get('finished', '?'))}", _link(report, results, "report"),
                        _link(summary_file, results, "summary.json"))
        body.append(f"<h2>{html.escape(_title(s, titles))}</h2><p class='meta'>"
                    f"{html.escape(s['notebook'])} · {links}</p>")
        body.append(_tables_section(results, csvs, main_tables))
        body.append(_figures_section(results, pngs))
    others_csv = [p for p in sorted((results / "tables").glob("*.csv")) if p.relative_to(results).as_posix()
                  not in claimed]
    others_png = [p for p in sorted((results / "figures").rglob("*.png")) if p.relative_to(results).as_posix()
                  not in claimed]
    if others_csv or others_png:
        body.append("<h2>Other tables and figures</h2><p class='meta'>not listed in a notebook summary (e.g. from an "
                    "earlier run)</p>")
        body.append(_tables_section(results, others_csv, ()))
        body.append(_figures_section(results, others_png))
    readme = next((p for p in (results / "README.md", results.parent / "README.md") if p.is_file()), None)
    if readme is not None:
        body.append(f"<p class='meta'>Which notebook makes which file: {_link(readme, results, 'README.md')}</p>")
    page = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Segmentation study: results</title>"
            f"<style>{_CSS}</style></head><body>{''.join(body)}</body></html>\n")
    index = results / "index.html"
    index.write_text(page, encoding="utf-8")
    return index

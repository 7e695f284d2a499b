"""Reports of an executed study: HTML renderings of the notebooks, failure messages, ``results/index.html``.

Used by ``run_all.sh`` (through ``python -m seg_utils.report``)::

    python -m seg_utils.report render <results>/notebooks/*.ipynb --index <results>
    python -m seg_utils.report error  <results>/notebooks/01_dataset_isic2018.ipynb
    python -m seg_utils.report index  <results>

``render`` writes, beside each executed notebook, ``<stem>.html`` (with code) and ``<stem>.report.html`` (the
reader's version: nbconvert's ``--no-input``, i.e. no code cells and no prompts), all in one process (importing
nbconvert costs more than rendering). ``index`` links every report, table (CSV + Markdown, shown inline) and figure
(PNG + PDF) under the results folder, grouped by the notebook that made it (from ``summaries/<name>.json``, written
by ``study.write_summary``).
"""

from __future__ import annotations

import argparse
import html
import os
from datetime import datetime
from pathlib import Path

import pandas as pd

from ..study.summary import summary_path
from .display import format_value
from .results import read_summaries

__all__ = ["render", "notebook_error", "build_index", "main"]

_READER_SUFFIX = ".report.html"


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
                            (_READER_SUFFIX, {"exclude_input": True, "exclude_input_prompt": True,
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
.figs{display:flex;flex-wrap:wrap;gap:1em} figure{margin:0;width:340px} figure img{width:340px;border:1px solid #ddd}
figcaption{font-size:.85em;color:#444} details{margin:.4em 0;overflow-x:auto} summary{cursor:pointer}
.missing{color:#b00}
"""


def _link(path: Path, base: Path, text: str | None = None) -> str:
    rel = os.path.relpath(path, base).replace(os.sep, "/")
    return f'<a href="{html.escape(rel)}">{html.escape(text or path.name)}</a>'


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
                   + "</tr>" for r in df.itertuples(index=False))
    return f"<table class='data'><tr>{head}</tr>{rows}</table>"


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
        links = " · ".join([_link(csv, results, "csv")] + ([_link(md, results, "md")] if md.is_file() else []))
        is_open = " open" if csv.stem in open_names else ""
        parts.append(f"<details{is_open}><summary><b>{html.escape(title)}</b> <code>{html.escape(csv.stem)}</code> "
                     f"({links})</summary>{_table_html(csv)}</details>")
    return "\n".join(parts)


def _figures_section(results: Path, pngs: list[Path]) -> str:
    cards = []
    for png in pngs:
        pdf = png.with_suffix(".pdf")
        rel = png.relative_to(results).as_posix()
        extra = f" · {_link(pdf, results, 'pdf')}" if pdf.is_file() else ""
        cards.append(f'<figure><a href="{html.escape(rel)}"><img src="{html.escape(rel)}" alt="{html.escape(rel)}">'
                     f"</a><figcaption>{html.escape(rel)} ({_link(png, results, 'png')}{extra})</figcaption></figure>")
    return f"<div class='figs'>{''.join(cards)}</div>" if cards else ""


_TITLES = {
    "table_encoders": "Table 1: encoder comparison (ISIC 2018, BCE)",
    "table_losses": "Table 2: loss comparison (BCE vs Log-Cosh Dice)",
    "table_literature": "CBIS-DDSM literature comparison and data-quality counts",
    "dataset_isic2018": "ISIC 2018 (skin lesions)",
    "dataset_chest_xray": "Chest X-ray (Shenzhen to Montgomery)",
    "dataset_cbis_ddsm": "CBIS-DDSM (masses)",
    "predict": "Predictions of a trained run on new images",
}


def _summary_name(notebook_stem: str) -> str:
    """``01_dataset_isic2018`` -> ``dataset_isic2018``: the name its summary has."""
    head, _, rest = notebook_stem.partition("_")
    return rest if head.isdigit() and rest else notebook_stem


def _section_order(summary: dict) -> tuple[int, str]:
    """The comparison tables first (the poster's headline numbers), then the datasets, then anything else."""
    names = list(_TITLES)
    name = summary.get("notebook", "")
    return (names.index(name) if name in names else len(names), name)


def build_index(results: str | Path) -> Path:
    """Write ``<results>/index.html`` linking every report, table and figure, grouped by notebook.

    Returns:
        The index path.
    """
    results = Path(results).resolve()
    summaries = read_summaries(results)
    notebooks = sorted((results / "notebooks").glob("*.ipynb"))
    claimed: set[str] = set()
    body = [f"<h1>Segmentation study: results</h1><p class='meta'>{html.escape(str(results))} · index written "
            f"{datetime.now().strftime('%Y-%m-%d %H:%M')}</p>"]
    synthetic = [s["notebook"] for s in summaries if "data_root" in s.get("parameters", {})
                 and not s["parameters"]["data_root"]]
    if synthetic:
        body.append(f"<p class='warn'><b>Synthetic data.</b> {html.escape(', '.join(synthetic))} ran on the "
                    "synthetic demo data (the smoke profile): these numbers show that the pipeline works end to "
                    "end; they are not comparable with the poster's. Run <code>./run_all.sh --profile paper "
                    "--data-root DIR</code> for the real study.</p>")
    by_name = {s["notebook"]: s for s in summaries}
    rows = []
    for nb in notebooks:
        code, reader = nb.with_suffix(".html"), nb.with_name(nb.stem + _READER_SUFFIX)
        links = [_link(reader, results, "report") if reader.is_file() else "<span class='missing'>no report</span>",
                 _link(code, results, "with code") if code.is_file() else "",
                 _link(nb, results, "notebook")]
        log = nb.with_suffix(".log")
        if log.is_file():
            links.append(_link(log, results, "log"))
        done = by_name.get(_summary_name(nb.stem))
        state = (f"finished {html.escape(done.get('finished', '?'))}" if done
                 else "<span class='missing'>no summary: failed or still running</span>")
        rows.append(f"<tr><td><b>{html.escape(nb.stem)}</b></td><td>{' · '.join(x for x in links if x)}</td>"
                    f"<td>{state}</td></tr>")
        claimed.update(p.relative_to(results).as_posix() for p in (code, reader, nb, log) if p.is_file())
    body.append("<h2>Notebooks</h2>")
    body.append("<table class='files'><tr><th>notebook</th><th>reports</th><th>status</th></tr>" + "".join(rows)
                + "</table>" if rows else "<p class='missing'>no executed notebook yet</p>")
    main_tables = ("table1_encoders", "table2_losses", "literature_cbis_ddsm", "quality")
    for s in sorted(summaries, key=_section_order):
        arts = [results / a for a in s.get("artefacts", [])]
        csvs = [a for a in arts if a.suffix == ".csv" and a.is_file()]
        pngs = [a for a in arts if a.suffix == ".png" and a.is_file()]
        claimed.update(a.relative_to(results).as_posix() for a in arts if a.is_file() and a.is_relative_to(results))
        claimed.update(a.with_suffix(".md").relative_to(results).as_posix() for a in csvs)
        summary_file = summary_path(results, s["notebook"])
        claimed.add(summary_file.relative_to(results).as_posix())
        title = _TITLES.get(s["notebook"], s["notebook"])
        reports = [p for p in notebooks if _summary_name(p.stem) == s["notebook"]]
        report_link = ""
        if reports and reports[0].with_name(reports[0].stem + _READER_SUFFIX).is_file():
            report_link = " · " + _link(reports[0].with_name(reports[0].stem + _READER_SUFFIX), results, "report")
        finished = html.escape(s.get("finished", "?"))
        body.append(f"<h2>{html.escape(title)}</h2><p class='meta'>{html.escape(s['notebook'])} · finished {finished}"
                    f"{report_link} · {_link(summary_file, results, 'summary.json')}</p>")
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m seg_utils.report", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("render", help="write <stem>.html and <stem>.report.html beside executed notebooks")
    r.add_argument("notebooks", type=Path, nargs="+")
    r.add_argument("--index", type=Path, metavar="RESULTS", help="then write RESULTS/index.html (one process)")
    e = sub.add_parser("error", help="print the failing cell's error of a partially executed notebook")
    e.add_argument("notebook", type=Path)
    i = sub.add_parser("index", help="write <results>/index.html")
    i.add_argument("results", type=Path)
    args = p.parse_args(argv)
    if args.command == "render":
        for notebook in args.notebooks:
            for path in render(notebook):
                print(path)
        if args.index:
            print(build_index(args.index))
    elif args.command == "error":
        print(notebook_error(args.notebook))
    else:
        print(build_index(args.results))
    return 0


"""The HTML reports of a study, and publishing its results folder.

``python -m seg_utils.report {render,error,index,publish}``: :mod:`.html` renders and indexes, :mod:`.publish`
copies what is published.

Used by ``run_all.sh``, and by whoever publishes a study::

    python -m seg_utils.report render  <results>/notebooks/*.ipynb --index <results>
    python -m seg_utils.report error   <results>/notebooks/01_dataset_isic2018.ipynb
    python -m seg_utils.report index   <results>
    python -m seg_utils.report publish <results> results/cpu-real --replace
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import SegUtilsError
from .html import build_index, notebook_error, render
from .publish import publish


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
    u = sub.add_parser("publish", help="copy the publishable files of SRC (reports, tables, summaries, figure PNGs, "
                       "run records; seg_utils.report.publish.PUBLISHED) to DEST and build DEST/index.html")
    u.add_argument("src", type=Path, help="the working results folder")
    u.add_argument("dest", type=Path, help="the published folder, e.g. results/cpu-real")
    u.add_argument("--replace", action="store_true", help="replace DEST when it is a published folder already")
    args = p.parse_args(argv)
    if args.command == "render":
        for notebook in args.notebooks:
            for path in render(notebook):
                print(path)
        if args.index:
            print(build_index(args.index))
    elif args.command == "error":
        print(notebook_error(args.notebook))
    elif args.command == "index":
        print(build_index(args.results))
    else:
        try:
            print(publish(args.src, args.dest, args.replace))
        except SegUtilsError as exc:
            print(f"python -m seg_utils.report publish: error: {exc}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

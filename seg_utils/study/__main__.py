"""``python -m seg_utils.study {plan,notebooks}``: what run_all.sh runs (seg_utils.study.notebooks).

``plan`` writes each selected notebook's parameters file and prints the notebooks with their papermill parameter
options: one shell-quoted line each (``NAME ARGS...``, after ``# results:`` and ``# data:`` lines), or with ``--null``
NUL-terminated fields for bash's ``mapfile -d ''``: the results folder, the data folder ('' if none), the number of
notebooks, then per notebook its name, the number of its arguments and the arguments. ``notebooks`` prints the
notebooks run_all.sh can run, one a line. A problem is one line on stderr (``PROG: error: ...``; a first argument
``--prog=NAME`` sets PROG, run_all.sh passes its own name) and exit status 2.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence

from ..errors import ConfigError
from .notebooks import Plan, build_plan, study_notebooks, write_plan

__all__ = ["main", "plan_fields"]

# Options whose values run_all.sh passes on as they are, so they are taken here word by word, not by argparse (which
# would read a value such as "--x" or "-" as an option).
_OVERRIDES = {"-p": 2, "--param": 2, "--param-for": 3}


def _split_overrides(argv: Sequence[str]) -> tuple[list[str], list[tuple[str, str]], list[tuple[str, str, str]]]:
    rest: list[str] = []
    extra: list[tuple[str, str]] = []
    scoped: list[tuple[str, str, str]] = []
    i = 0
    while i < len(argv):
        word, n = argv[i], _OVERRIDES.get(argv[i])
        if n is None:
            rest.append(word)
            i += 1
            continue
        if i + n >= len(argv):
            raise ConfigError(f"{word} needs {'NAME VALUE' if n == 2 else 'NOTEBOOK NAME VALUE'}")
        values = tuple(argv[i + 1:i + 1 + n])
        (extra if n == 2 else scoped).append(values)  # type: ignore[arg-type]
        i += 1 + n
    return rest, extra, scoped


def _parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    plan = sub.add_parser("plan", help="write the parameters files and print the notebooks with their papermill "
                          "options")
    n = sub.add_parser("notebooks", help="the notebooks run_all.sh can run, one a line")
    for s in (plan, n):
        s.add_argument("--repo", default=".", help="the repository root (default: the working directory)")
    plan.add_argument("--profile", default="smoke", help="notebooks/params/PROFILE.yaml")
    plan.add_argument("--results", default="", help="results folder (default: <repo>/results/<profile>)")
    plan.add_argument("--only", default="", help="comma-separated notebooks by name, prefix or number (default: the "
                      "profile's '# notebooks:' line, else all)")
    plan.add_argument("--data-root", default="", help="folder holding the datasets (default: the profile's)")
    plan.add_argument("--device", default="", help="auto | cpu | cuda (default: the profile's)")
    plan.add_argument("--resume-from", default="", help="a previous session's results")
    plan.add_argument("--null", action="store_true", help="NUL-terminated fields for bash (see the module's doc)")
    plan.add_argument("-p", "--param", nargs=2, metavar=("NAME", "VALUE"), help="(repeatable) as run_all.sh's")
    plan.add_argument("--param-for", nargs=3, metavar=("NOTEBOOK", "NAME", "VALUE"), help="(repeatable) as "
                      "run_all.sh's, after the -p ones")
    return p


def plan_fields(plan: Plan) -> list[str]:
    """The ``--null`` output's fields: results, data folder, count, then per notebook name, count, arguments."""
    fields = [str(plan.results), plan.data_root, str(len(plan.runs))]
    for run in plan.runs:
        args = run.papermill_args
        fields += [run.name, str(len(args)), *args]
    return fields


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    prog = "python -m seg_utils.study"
    if argv[:1] and argv[0].startswith("--prog="):  # run_all.sh: its errors read "run_all.sh: error: ..."
        prog = argv.pop(0).split("=", 1)[1]
    try:
        rest, extra, scoped = _split_overrides(argv)
        args = _parser(prog).parse_args(rest)
        if args.command == "notebooks":
            print("\n".join(study_notebooks(args.repo)))
            return 0
        plan = build_plan(args.repo, args.profile, results=args.results, only=args.only, data_root=args.data_root,
                          device=args.device, resume_from=args.resume_from, extra=extra, scoped=scoped)
        write_plan(plan)
    except ConfigError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    if args.null:
        sys.stdout.buffer.write(b"".join(f.encode("utf-8", "surrogateescape") + b"\0" for f in plan_fields(plan)))
    else:
        print(f"# results: {plan.results}\n# data: {plan.data_root}")
        for run in plan.runs:
            print(shlex.join([run.name, *run.papermill_args]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The package's structure: four layers whose imports flow one way (data <- model <- study <- report), no import
cycles, and small modules. Reads every import statement of seg_utils (function-local ones included) from the source.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "seg_utils"
#: The rank of each layer: a module may import from its own rank and the ranks below.
LAYERS = {"errors": 0, "repro": 0, "stats": 0, "options": 0, "data": 1, "model": 2, "study": 3, "report": 4, "cli": 5,
          "launch": 5, "__init__": 5, "__main__": 5}
MAX_LINES = 360  # "about 350"


def _module_name(package: Path, path: Path) -> str:
    parts = ["seg_utils", *path.relative_to(package).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules(package: Path) -> dict[str, Path]:
    return {_module_name(package, p): p for p in sorted(package.rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The seg_utils modules that ``name`` imports (``from . import io`` names the module ``...io``)."""
    is_package = path.name == "__init__.py"
    base = name.split(".") if is_package else name.split(".")[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("seg_utils")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                target = ".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else []))
            elif node.module and node.module.startswith("seg_utils"):
                target = node.module
            else:
                continue
            for alias in node.names:  # "from .quality import integrity" names a module, not only a package
                sub = f"{target}.{alias.name}"
                out.add(sub if sub in known else target)
    return {m for m in out if m in known and m != name}


def _layer(name: str) -> tuple[str, int]:
    parts = name.split(".")
    key = parts[1] if len(parts) > 1 else "__init__"
    return key, LAYERS.get(key, -1)


def _graph(package: Path) -> dict[str, set[str]]:
    mods = _modules(package)
    return {name: _imports(name, path, set(mods)) for name, path in mods.items()}


def upward_imports(package: Path) -> list[str]:
    """Every import from a higher layer, or across two layers of the same rank (errors and repro excepted)."""
    found = []
    for name, targets in _graph(package).items():
        layer, rank = _layer(name)
        for target in targets:
            t_layer, t_rank = _layer(target)
            if t_rank > rank or (t_rank == rank and t_layer != layer and 0 < rank < 5):
                found.append(f"{name} ({layer}) imports {target} ({t_layer})")
    return sorted(found)


def import_cycles(package: Path) -> list[str]:
    """One line per cycle found by a depth-first walk of the import graph."""
    graph = _graph(package)
    colour: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        colour[node] = 1
        for nxt in sorted(graph[node]):
            if colour.get(nxt) == 1:
                path = stack + [node]
                cycles.append(" -> ".join(path[path.index(nxt):] + [nxt]))
            elif nxt not in colour:
                visit(nxt, stack + [node])
        colour[node] = 2

    for node in sorted(graph):
        if node not in colour:
            visit(node, [])
    return cycles


def test_every_module_belongs_to_a_layer():
    unknown = sorted(n for n in _modules(PACKAGE) if _layer(n)[1] < 0)
    assert not unknown, f"modules outside the layers {sorted(LAYERS)}: {unknown}"


def test_imports_flow_one_way():
    found = upward_imports(PACKAGE)
    assert not found, "imports against the layers:\n" + "\n".join(found)


def test_no_import_cycles():
    found = import_cycles(PACKAGE)
    assert not found, "import cycles:\n" + "\n".join(found)


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_are_small(path):
    n = len(path.read_text().splitlines())
    assert n <= MAX_LINES, f"{path.relative_to(PACKAGE)} has {n} lines (at most about 350): split it by concern"


def test_the_checks_find_a_planted_upward_import_and_cycle(tmp_path):
    copy = tmp_path / "seg_utils"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "data" / "planted.py").write_text("from ..report import results\nfrom . import planted_b\n")
    (copy / "data" / "planted_b.py").write_text("def f():\n    from . import planted\n")
    assert upward_imports(copy) == ["seg_utils.data.planted (data) imports seg_utils.report.results (report)"]
    assert import_cycles(copy) == ["seg_utils.data.planted -> seg_utils.data.planted_b -> seg_utils.data.planted"]

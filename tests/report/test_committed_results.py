"""The committed real-data study carries no absolute path of the machine that made it (data roots are shown relative
to the repository)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_ABSOLUTE = re.compile(r"(/work/|/root/|/home/|/tmp/)")  # example paths in prose (/kaggle/working) are fine


def test_committed_results_hold_no_absolute_path_of_a_machine():
    tracked = subprocess.run(["git", "ls-files", "results"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    if not tracked:  # not a git checkout (e.g. an unpacked archive): nothing committed to check
        return
    offenders = []
    for name in tracked:
        path = ROOT / name
        if path.suffix in (".png", ".pdf") or not path.is_file():
            continue
        text = path.read_text(errors="ignore")
        if str(ROOT) in text or _ABSOLUTE.search(text):
            offenders.append(name)
    assert not offenders, f"absolute paths in committed results: {offenders[:10]}"

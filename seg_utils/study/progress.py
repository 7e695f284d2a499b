"""Live progress of a notebook's runs, for a user who waits hours behind one notebook.

The runs emit events: a run starts (``run i/N``, its name), an epoch ends (its number, the last validation Dice, the
time left at most), a run ends (its Dice, or why it failed, and its minutes). Each start and end is printed as a
plain line in the notebook's output (a handful per notebook, so the HTML reports stay readable and free of widgets);
every event is also appended as a JSON line to the file named by the environment variable :data:`PROGRESS_ENV`,
when it is set. ``run_all.sh`` sets it for each notebook and runs :func:`follow` beside papermill, which prints the
events as they come: epoch lines refreshed in place on a terminal, plain lines elsewhere (a log, the launcher
notebook's cell).

Example (what ``run_all.sh`` prints)::

    [1/7] 01_dataset_isic2018: started
      run 1/8 unet-vgg19-bce-s0-8c1d2e3f4a: started
      run 1/8 epoch 3/50, val Dice 0.812, at most 41.5 min left
      run 1/8 unet-vgg19-bce-s0-8c1d2e3f4a: Dice 0.861 in 6.2 min
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import IO, Any

__all__ = ["PROGRESS_ENV", "emit", "run_started", "run_ended", "epoch_event", "format_event", "follow"]

#: The environment variable naming the file progress events are appended to (unset: events are only printed).
PROGRESS_ENV = "SEG_UTILS_PROGRESS"


def emit(event: dict[str, Any], echo: bool = False) -> None:
    """Append ``event`` to the progress file (if :data:`PROGRESS_ENV` names one); print it too when ``echo``."""
    if echo:
        print(format_event(event), flush=True)
    path = os.environ.get(PROGRESS_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as f:  # one short append per event: safe across worker processes
            f.write(json.dumps({**event, "time": time.time()}) + "\n")


def run_started(index: int, total: int, name: str) -> None:
    emit({"event": "start", "index": index, "total": total, "run": name}, echo=True)


def run_ended(index: int, total: int, name: str, status: str, dice: float | None, seconds: float,
              reason: str = "") -> None:
    emit({"event": "end", "index": index, "total": total, "run": name, "status": status, "dice": dice,
          "seconds": seconds, "reason": reason}, echo=True)


def epoch_event(index: int, total: int, name: str):
    """The ``on_epoch`` callback of :func:`seg_utils.model.fit` for run ``index`` of ``total``: emits each epoch with
    an estimate of the time left (the mean epoch time so far times the epochs left: an upper bound, since early
    stopping may end the run sooner)."""
    seconds: list[float] = []

    def on_epoch(row: dict[str, Any]) -> None:
        seconds.append(float(row["seconds"]))
        left = (row["epochs"] - row["epoch"]) * sum(seconds) / len(seconds)
        emit({"event": "epoch", "index": index, "total": total, "run": name, "epoch": int(row["epoch"]),
              "epochs": int(row["epochs"]), "val_dice": float(row["val_dice"]), "seconds_left": left})

    return on_epoch


def format_event(event: dict[str, Any]) -> str:
    """One line for an event (see the module's example)."""
    head = f"  run {event['index']}/{event['total']}"
    kind = event.get("event")
    if kind == "start":
        return f"{head} {event['run']}: started"
    if kind == "epoch":
        return (f"{head} epoch {event['epoch']}/{event['epochs']}, val Dice {event['val_dice']:.3f}, at most "
                f"{event['seconds_left'] / 60:.1f} min left")
    minutes = f"{event['seconds'] / 60:.1f} min"
    if event.get("status") == "complete" and event.get("dice") is not None:
        return f"{head} {event['run']}: Dice {event['dice']:.3f} in {minutes}"
    return f"{head} {event['run']}: {event.get('status', '?')} after {minutes}" + (
        f" ({event['reason']})" if event.get("reason") else "")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def follow(path: str | Path, pid: int, out: IO[str] | None = None, tty: bool | None = None,
           interval: float = 0.5) -> int:
    """Print the events appended to ``path`` while process ``pid`` runs, then the rest; returns the number printed.

    Args:
        path: the progress file (it may not exist yet).
        pid: the process to follow (papermill); following stops once it has exited and the file is read to its end.
        out: where to print (default stdout).
        tty: refresh epoch lines in place (default: whether ``out`` is a terminal).
        interval: seconds between two reads.
    """
    out = out or sys.stdout
    tty = out.isatty() if tty is None else tty
    path, offset, printed, pending = Path(path), 0, 0, False
    while True:
        running = _alive(pid)
        if path.is_file():
            with path.open(encoding="utf-8") as f:
                f.seek(offset)
                chunk = f.read()
            complete = chunk[: chunk.rfind("\n") + 1]  # a line being written is read next time
            offset += len(complete.encode("utf-8"))
            for line in complete.splitlines():
                try:
                    event = json.loads(line)
                    text = format_event(event)
                except (ValueError, KeyError, TypeError):
                    continue
                if tty and event.get("event") == "epoch":
                    out.write("\r\033[K" + text)
                    pending = True
                else:
                    out.write(("\r\033[K" if pending else "") + text + "\n")
                    pending = False
                printed += 1
            out.flush()
        if not running:
            break
        time.sleep(interval)
    if pending:
        out.write("\n")
    out.flush()
    return printed

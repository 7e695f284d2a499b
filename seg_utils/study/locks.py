"""Run-level locks: two processes (parallel runs, or two shards on one results folder) never train one run twice
nor write one file at once.

A lock is an exclusive ``fcntl.flock`` on ``<run_dir>/.lock``. The kernel releases it when its holder exits, also
when the holder is killed with SIGKILL, so a dead holder never leaves a run stuck; the file itself stays and means
nothing. The lock file records who holds it (host, pid, time), for messages. flock works between processes of one
machine on a local file system (Kaggle's /kaggle/working, a workstation's disk); not across machines on NFS.
"""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from ..errors import SegUtilsError

__all__ = ["RunLocked", "run_lock", "LOCK_NAME"]

LOCK_NAME = ".lock"


class RunLocked(SegUtilsError):
    """Another live process holds the run's lock."""


@contextmanager
def run_lock(run_dir: str | Path, wait: bool = False) -> Iterator[Path]:
    """Hold the lock of ``run_dir`` for the block.

    Args:
        run_dir: the run folder (created if needed).
        wait: block until the lock is free (else raise at once).

    Raises:
        RunLocked: the lock is held by another live process (``wait=False``); the message names the holder.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            raise RunLocked(f"{run_dir.name} is being trained by {holder}") from None
        os.ftruncate(fd, 0)
        since = datetime.now(timezone.utc).isoformat(timespec="seconds")
        stamp = f"{socket.gethostname()} pid {os.getpid()} since {since}"
        os.pwrite(fd, stamp.encode(), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)

"""One trainer per run folder: an exclusive, non-blocking lock that dies with its process.

Two ``bpmult train`` into the same folder would interleave their files; a trainer left running
after its DVC parent was killed would race the rerun. ``flock`` on ``RUN/.bpmult-lock`` fails at
once for the second process and is released by the kernel when the first one exits, however it
exits, so a stale lock never blocks a rerun. DVC ignores the file (``.dvcignore``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Iterator

LOCK_NAME = ".bpmult-lock"


class RunLockedError(RuntimeError):
    """Another process is training in this run folder."""


@contextlib.contextmanager
def run_lock(run_dir: str | Path) -> Iterator[Path]:
    """Hold the run folder's lock inside the block.

    Raises:
        RunLockedError: naming the folder and the process that holds it.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_NAME
    handle = open(path, "a+")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise RunLockedError(f"{run_dir}: another trainer (pid {holder}) is running in this folder; "
                                 f"wait for it or stop it, then rerun") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield path
    finally:
        handle.close()  # closing releases the lock

"""Seeds as the unit of scheduling: the seeds of one run trained side by side, one process each.

A train stage is one (dataset, variant) over the profile's seeds (5 in the paper profile), and DVC
runs one stage at a time. ``BPMULT_SEED_WORKERS=N`` lets the stage train up to N of its seeds at
once, each in a process of its own that claims a GPU of its own
(:func:`bpmult.train.runtime.claim_gpu`): on a machine with 5 GPUs a paper stage takes the time of
its slowest seed instead of the sum. ``gpus`` means one worker per visible GPU.

The setting changes where and when a seed is computed, not what: every seed is seeded, shuffled
and checkpointed on its own, so its files are the same as in one process, and DVC rightly sees no
parameter change. A worker dies with its parent (``PR_SET_PDEATHSIG``): a killed stage leaves no
trainer behind to race the rerun, which resumes every seed from its own checkpoint.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import platform
import signal
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable, Mapping, Sequence

import torch

ENV = "BPMULT_SEED_WORKERS"
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def seed_workers(environ: Mapping[str, str] = os.environ) -> int:
    """How many seeds may train at once: ``$BPMULT_SEED_WORKERS`` (default 1).

    Raises:
        ValueError: naming the variable when it is neither a positive integer nor ``gpus``.
    """
    value = environ.get(ENV, "").strip()
    if value in ("", "1"):
        return 1
    if value.lower() == "gpus":
        return max(1, torch.cuda.device_count()) if torch.cuda.is_available() else 1
    if value.isdigit() and int(value) >= 1:
        return int(value)
    raise ValueError(f"{ENV}={value!r}: expected a positive integer (seeds trained at once) or 'gpus' "
                     f"(one per visible GPU)")


def _die_with_parent(parent: int) -> None:
    """Worker start-up: be killed when the parent dies, and leave at once if it died already."""
    if platform.system() == "Linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


def run_in_workers(job: Callable[..., Any], calls: Sequence[tuple], workers: int) -> list[Any]:
    """``[job(*args) for args in calls]`` in up to ``workers`` fresh (spawned) processes.

    Every call runs to its end even when another fails, so that the seeds that can finish do (a
    rerun keeps them); then the first failure, in ``calls`` order, is raised as the worker raised it.
    ``job`` must be a module-level function and its arguments picklable.
    """
    context = multiprocessing.get_context("spawn")  # no fork of a process holding CUDA or threads
    with ProcessPoolExecutor(max_workers=min(workers, len(calls)), mp_context=context,
                             initializer=_die_with_parent, initargs=(os.getpid(),)) as pool:
        futures = [pool.submit(job, *args) for args in calls]
        errors = [f.exception() for f in futures]
    for error in errors:
        if error is not None:
            raise error
    return [f.result() for f in futures]


__all__ = ["ENV", "run_in_workers", "seed_workers"]

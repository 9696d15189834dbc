"""Where and how a run executes: device, seeds, threads, determinism, mixed precision, versions.

None of these may change a result on a given device, so none of them is part of the config saved
with a run, except ``amp`` and ``deterministic``, which live in :class:`TrainConfig`.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import platform
import random
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import sklearn
import torch
import torch.distributed as dist

import bpmult

_CLAIMED: dict[int, Any] = {}  # GPU index -> the open lock file that holds it for this process's lifetime


def gpu_lock_dir() -> Path:
    """Where GPU claims live: ``BPMULT_GPU_LOCKS``, else one folder per machine under the temp dir."""
    return Path(os.environ.get("BPMULT_GPU_LOCKS") or Path(tempfile.gettempdir()) / "bpmult-gpu-locks")


def claim_gpu(count: int, lock_dir: Path | None = None) -> int | None:
    """Claim the first of ``count`` GPUs that no other bpmult process holds; None when all are held.

    DVC's queue (``dvc queue start -j N``) runs N experiments at once and tells none of them which
    GPU to use; each trainer takes one with an exclusive ``flock`` on ``gpu-<i>.lock``, released by
    the kernel when the process ends however it ends.
    """
    lock_dir = Path(lock_dir or gpu_lock_dir())
    lock_dir.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        if index in _CLAIMED:
            return index
        handle = open(lock_dir / f"gpu-{index}.lock", "a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        _CLAIMED[index] = handle
        return index
    return None


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` if given, else a CUDA device when there is one, else the CPU.

    With several GPUs visible and none chosen (no ``--device``, no ``CUDA_VISIBLE_DEVICES``), each
    trainer claims a GPU of its own (:func:`claim_gpu`), so the workers of ``dvc queue start -j N``
    spread over N GPUs; when every GPU is claimed, the first is shared.
    """
    if device is not None:
        return torch.device(device)
    if not torch.cuda.is_available():
        return torch.device("cpu")
    count = torch.cuda.device_count()
    if count > 1 and "CUDA_VISIBLE_DEVICES" not in os.environ:
        index = claim_gpu(count)
        return torch.device("cuda", 0 if index is None else index)
    return torch.device("cuda")


def seed_everything(seed: int) -> None:
    """Seed python's, numpy's and torch's (CPU and CUDA) generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


@contextlib.contextmanager
def deterministic_algorithms(enabled: bool = True, device: torch.device | None = None) -> Iterator[None]:
    """Deterministic CUDA algorithms inside the block; the previous mode after it.

    On CUDA: ``torch.use_deterministic_algorithms`` (warn-only: an op without a deterministic
    kernel, e.g. adaptive average pooling's backward, warns instead of stopping the run),
    deterministic cuDNN and cuBLAS workspace. On CPU nothing is switched: the CPU kernels used here
    are deterministic already (the resume test checks bit-identity), and the switch would cost
    seconds of imports (torch._inductor) in every process.
    """
    if not enabled or device is None or device.type != "cuda":
        yield
        return
    previous = (torch.are_deterministic_algorithms_enabled(),
                torch.is_deterministic_algorithms_warn_only_enabled(),
                torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS (CUDA >= 10.2)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = previous[2], previous[3]


@contextlib.contextmanager
def cpu_threads(threads: int | None, device: torch.device) -> Iterator[None]:
    """``torch.set_num_threads(threads)`` inside the block when training on the CPU."""
    if threads is None or device.type != "cpu":
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_KEEP_BELOW_BYTES = 64 * 2**20  # blocks below this come from the heap, never from fresh mmap pages
_TRIM_ABOVE_BYTES = 256 * 2**20  # free heap memory beyond this is given back to the system
_ALLOCATOR_TUNED = False


def keep_freed_cpu_memory() -> bool:
    """Let glibc reuse freed CPU blocks instead of returning them to the kernel between steps.

    A training step on the CPU allocates and frees the same tensors every step. glibc's default
    serves a block above its (adaptive) mmap threshold with fresh pages and hands them back when it
    is freed, and it trims the heap's top when more than 128 KiB are free there: every step then
    faults its activations' pages in again (about 5,000 page faults per step of MuLT's grouped
    encoders at d 30). Fixing both thresholds (64 MiB, 256 MiB) keeps those blocks for reuse: a
    ``small`` MuLT step ran about 6 % faster (``docs/benchmarks.md``); nothing computed changes.
    Freed memory up to 256 MiB stays with the process.

    Done once per process, only with glibc, and not when the user set either threshold
    (``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_``) or ``BPMULT_KEEP_FREED_MEMORY=0``.
    Returns whether the thresholds are set (now or before).
    """
    global _ALLOCATOR_TUNED
    if _ALLOCATOR_TUNED:
        return True
    if os.environ.get("BPMULT_KEEP_FREED_MEMORY", "1") == "0" or platform.system() != "Linux":
        return False
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # the mmap threshold first: setting the trim threshold alone would stop the threshold adapting,
    # and every block above 128 KiB would get fresh pages (a step 60 % slower)
    if mallopt(_M_MMAP_THRESHOLD, _KEEP_BELOW_BYTES) != 1 or mallopt(_M_TRIM_THRESHOLD, _TRIM_ABOVE_BYTES) != 1:
        return False
    _ALLOCATOR_TUNED = True
    return True


def versions() -> dict[str, str]:
    """Versions of the software a result depends on."""

    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
            "sklearn": sklearn.__version__, "bpmult": bpmult.__version__}


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"




def autocast(device: torch.device, amp: bool):
    """bf16 autocast on CUDA when ``amp``; a no-op context on the CPU (float32 there)."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda")


def distributed_device(device: str | torch.device | None = None) -> torch.device:
    """Join the process group when started by ``torchrun`` (``WORLD_SIZE`` > 1); the device to use.

    NCCL on CUDA (one GPU per process, ``LOCAL_RANK``), gloo on the CPU. Outside ``torchrun`` this is
    :func:`pick_device`, so one code path serves one process and many.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return pick_device(device)
    local = int(os.environ.get("LOCAL_RANK", "0"))
    chosen = pick_device(device)
    if chosen.type == "cuda":
        chosen = torch.device("cuda", local)
        torch.cuda.set_device(chosen)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if chosen.type == "cuda" else "gloo")
    return chosen


def is_writer() -> bool:
    """Whether this process writes files: always outside ``torchrun``, rank 0 inside it."""
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0

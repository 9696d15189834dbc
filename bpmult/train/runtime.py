"""Where and how a run executes: device, seeds, threads, determinism, mixed precision, versions.

None of these may change a result on a given device, so none of them is part of the config saved
with a run, except ``amp`` and ``deterministic``, which live in :class:`TrainConfig`.
"""

from __future__ import annotations

import contextlib
import os
import platform
import random
from typing import Iterator

import numpy as np
import sklearn
import torch

import bpmult

def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` if given, else the first CUDA device when there is one, else the CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


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

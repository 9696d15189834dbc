"""Counting one training step of a model: parameters, FLOPs and the bytes kept for backward.

Every count runs the same code on any device. On ``torch.device("meta")`` tensors carry shapes and
dtypes but no data, so a 600 M-parameter model at the paper's batch is counted in seconds without
allocating anything; the tests run the same functions on CPU tensors to show that the meta counts
are the real ones.

- FLOPs: :class:`torch.utils.flop_counter.FlopCounterMode` over forward, loss and backward. It
  counts matrix multiplications, convolutions and attention (2 FLOPs per multiply-add); the
  elementwise work (activations, norms, dropout, softmax outside fused attention) is not counted,
  a few percent for these models.
- Activations: every tensor autograd saves for backward (``saved_tensors_hooks``), counted once per
  storage (views share one), leaving out the parameters themselves (counted as weights).

One pass (:func:`count_step`) gives all three, so a paper-size stage costs one forward and one
backward of dispatch work.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

Step = Callable[[], torch.Tensor]  # runs the forward and the loss, returns the loss


def parameter_counts(model: nn.Module) -> tuple[int, int]:
    """(all parameters, trainable parameters), shared parameters counted once."""
    unique = {id(p): p for p in model.parameters()}.values()
    return sum(p.numel() for p in unique), sum(p.numel() for p in unique if p.requires_grad)


def parameter_bytes(model: nn.Module) -> tuple[int, int]:
    """(bytes of all parameters and buffers, bytes of the trainable parameters) at their dtypes."""
    params = {id(p): p for p in model.parameters()}.values()
    total = sum(p.numel() * p.element_size() for p in params) + sum(b.numel() * b.element_size() for b in model.buffers())
    return total, sum(p.numel() * p.element_size() for p in params if p.requires_grad)


@dataclass(frozen=True)
class StepCount:
    """One training step, counted.

    Attributes:
        forward_flops: FLOPs of the forward pass and the loss.
        flops: FLOPs of forward, loss and backward.
        saved_bytes: bytes autograd keeps from the forward until backward (see :func:`count_step`).
    """

    forward_flops: int
    flops: int
    saved_bytes: int


def count_step(model: nn.Module, step: Step, *, flops: bool = True) -> StepCount:
    """Run ``step()`` (forward and loss) and its backward once, counting FLOPs and saved bytes.

    ``flops=False`` runs the forward alone and counts the saved bytes only (FLOP counting is most
    of the time a meta step takes).

    Saved tensors: each storage counted once, whole (a view keeps all of its storage alive); the
    model's parameters and buffers are left out (they are weights, counted apart). What backward
    allocates transiently (gradients of activations, a layer at a time) is not in the count.
    Attention runs on SDPA's math backend on every device (meta has no fused kernels, and CPU
    would pick its flash kernel only without dropout), so meta and CPU counts agree; the math
    backend saves the attention weights, which CUDA's fused kernels recompute instead.
    """
    own = {_storage_key(t) for t in (*model.parameters(), *model.buffers())}
    seen: dict[tuple[str, int], int] = {}
    keep: list[torch.Tensor] = []  # holds every storage alive so that no key is reused meanwhile

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        key = _storage_key(tensor)
        if key not in own and key not in seen:
            seen[key] = _storage_bytes(tensor)
            keep.append(tensor)
        return tensor

    counter = FlopCounterMode(display=False) if flops else contextlib.nullcontext()
    with counter, sdpa_kernel(SDPBackend.MATH):
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            loss = step()
        forward = int(counter.get_total_flops()) if flops else 0
        saved = sum(seen.values())
        keep.clear()
        if flops:
            loss.backward()
    return StepCount(forward_flops=forward, flops=int(counter.get_total_flops()) if flops else 0, saved_bytes=saved)


def _storage_key(tensor: torch.Tensor) -> tuple[str, int]:
    """An identity for a tensor's storage, also on the meta device (where every data pointer is 0)."""
    try:
        return "storage", tensor.untyped_storage()._cdata
    except (RuntimeError, NotImplementedError):  # tensors without a storage (e.g. wrapper subclasses)
        return "tensor", id(tensor)


def _storage_bytes(tensor: torch.Tensor) -> int:
    try:
        return int(tensor.untyped_storage().nbytes())
    except (RuntimeError, NotImplementedError):
        return tensor.numel() * tensor.element_size()

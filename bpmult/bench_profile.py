"""Where a training step's time goes, and which SDPA kernel each of MuLT's mask regimes runs.

:func:`profile_step` runs one step under ``torch.profiler`` with every module of interest wrapped
in a ``record_function`` label, and books each top-level operator to the innermost label around
it. Backward operators are booked to the category of the forward operator that created them
(autograd nodes carry the forward operator's sequence number). What no operator accounts for is
Python and dispatch overhead (inflated by the profiler itself; compare the unprofiled median). The
profiler measures wall time, so on a shared machine the categories are best read as shares. Only
host-side operator time is booked: on CUDA that is launch overhead, not kernel time.

:func:`attention_backends` runs our :class:`~bpmult.nn.MultiheadAttention` once per mask regime and
reads the dispatched SDPA operator off the profiler (``_scaled_dot_product_flash_attention`` ->
flash, ``_efficient_attention`` -> memory-efficient, ``_cudnn_attention`` -> cuDNN, ``math``; no
SDPA operator but ``baddbmm``: our own unfused attention of CPU training with attention dropout).
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile, record_function

from bpmult import nn as bnn
from bpmult.nn import attention as attention_module
from bpmult.nn import encoder_group
from bpmult.models.parts import ModalityInputs, MultHead
from bpmult.nn.masks import sdpa_mask

_LABEL = "bench::"
OPTIMIZER = "optimizer (Adam)"
UNTRACKED = "Python / dispatch overhead"
_OTHER = "other (dropout, residuals, concat, loss)"
_BACKWARD = "autograd::engine::evaluate_function:"


def module_category(module: nn.Module) -> str | None:
    """The profile category of a module, or None to leave its work to its parent's category."""

    kinds = (
        (bnn.MultiheadAttention, "attention (projections + SDPA)"),
        (bnn.SinusoidalPositionalEmbedding, "positional embedding"),
        (nn.LayerNorm, "layer norm"),
        ((bnn.GMU, bnn.BimodalGMU, bnn.FusionGMU, bnn.ExtendedFusionGMU), "fusion (GMU / FGMU)"),
        (bnn.TimeReduction, "time reduction"),
        ((MultHead, bnn.ResidualBlock), "head"),
        (ModalityInputs, "input projections"),
    )
    for kind, name in kinds:
        if isinstance(module, kind):
            return name
    return None


@contextlib.contextmanager
def _labelled(model: nn.Module):
    """Label categorised modules, feed-forward blocks, mask building and the grouped encoders'
    steps (:mod:`bpmult.nn.encoder_group`) for the profiler.

    Modules are labelled by wrapping their instance's ``forward`` rather than by forward hooks: a
    hooked encoder runs alone (``run_encoders`` leaves hooked encoders ungrouped), so hooks would
    profile another computation than the one timed.
    """
    patched: list[tuple[nn.Module, str]] = []

    def label_call(fn, name):
        def wrapped(*args, **kwargs):
            with record_function(_LABEL + name):
                return fn(*args, **kwargs)
        return wrapped

    for module in model.modules():
        name = module_category(module)
        if name is not None:
            module.forward = label_call(module.forward, name)
            patched.append((module, "forward"))
        if hasattr(module, "feed_forward"):  # a method: label the instance's bound call
            module.feed_forward = label_call(module.feed_forward, "feed-forward")
            patched.append((module, "feed_forward"))
    functions = [(attention_module, "sdpa_mask", "masks"), (attention_module, "additive_bias", "masks"),
                 (encoder_group, "sdpa_mask", "masks"), (encoder_group, "additive_bias", "masks"),
                 (encoder_group, "_attention", "attention (projections + SDPA)"),
                 (encoder_group, "_projected_heads", "attention (projections + SDPA)"),
                 (encoder_group, "_feed_forward", "feed-forward"),
                 (encoder_group, "_plain_norm", "layer norm"), (encoder_group, "_norm", "layer norm"),
                 (encoder_group, "_stacked_weights", "weight stacking (grouped encoders)")]
    originals = [(owner, attr, getattr(owner, attr)) for owner, attr, _ in functions]
    for owner, attr, name in functions:
        setattr(owner, attr, label_call(getattr(owner, attr), name))
    try:
        yield
    finally:
        for owner, attr, fn in originals:
            setattr(owner, attr, fn)
        for module, attr in patched:
            delattr(module, attr)


def _innermost_label(event) -> str | None:
    parent = event.cpu_parent
    while parent is not None:
        if parent.name.startswith(_LABEL):
            return parent.name[len(_LABEL):]
        parent = parent.cpu_parent
    return None


def _has_op_ancestor(event) -> bool:
    parent = event.cpu_parent
    while parent is not None:
        if not parent.name.startswith(_LABEL) and not parent.name.startswith("Optimizer."):
            return True
        parent = parent.cpu_parent
    return False


def categorise(events, *, step_s: float) -> dict[str, float]:
    """Seconds per category from a profiler's events (see the module docstring)."""
    totals: dict[str, float] = {}
    forward_category: dict[int, str] = {}

    def book(name: str, us: float) -> None:
        totals[name] = totals.get(name, 0.0) + us * 1e-6

    for ev in events:
        if ev.name.startswith("Optimizer."):
            book(OPTIMIZER if "step" in ev.name else "optimizer zero_grad", ev.cpu_time_total)
        elif ev.sequence_nr >= 0 and not _in_backward(ev) and not _innermost_optimizer(ev):
            # the operator (at any depth) that created an autograd node names its backward's category
            forward_category.setdefault(ev.sequence_nr, _innermost_label(ev) or _OTHER)
    for ev in events:
        name = ev.name
        if name.startswith((_LABEL, "Optimizer.")) or _has_op_ancestor(ev):
            continue
        if _innermost_optimizer(ev):
            continue
        if name.startswith(_BACKWARD):
            node = name.split(":", 4)[-1].strip()
            if node.startswith("torch::autograd::AccumulateGrad"):
                book("backward: gradient accumulation", ev.cpu_time_total)
            else:
                category = forward_category.get(ev.sequence_nr, _OTHER)
                book(f"backward: {category}", ev.cpu_time_total)
            continue
        book(f"forward: {_innermost_label(ev) or _OTHER}", ev.cpu_time_total)
    totals[UNTRACKED] = max(step_s - sum(totals.values()), 0.0)
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


def _in_backward(event) -> bool:
    parent = event
    while parent is not None:
        if parent.name.startswith(_BACKWARD):
            return True
        parent = parent.cpu_parent
    return False


def _innermost_optimizer(event) -> bool:
    parent = event.cpu_parent
    while parent is not None:
        if parent.name.startswith("Optimizer."):
            return True
        parent = parent.cpu_parent
    return False


def profile_step(stepper, *, shape: str, model: str, warmup: int = 1, top_ops: int = 8) -> dict[str, Any]:
    """Profile one training step of ``stepper`` (a :class:`bpmult.bench.Stepper`)."""
    for _ in range(warmup):
        stepper.step()
    with _labelled(stepper.model), profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()  # wall time, as the profiler's event durations
        stepper.step()
        step_s = time.perf_counter() - start
    categories = categorise(prof.events(), step_s=step_s)
    averages = sorted((a for a in prof.key_averages() if not a.key.startswith(_LABEL)),
                      key=lambda a: -a.self_cpu_time_total)
    top = [{"op": a.key, "self_s": a.self_cpu_time_total * 1e-6, "calls": a.count} for a in averages[:top_ops]]
    return {"shape": shape, "model": model, "profiled_step_s": step_s, "categories_s": categories,
            "operator_events": len(prof.events()), "top_ops": top}


def format_profile(result: dict[str, Any]) -> str:
    """One profile as indented lines, largest category first."""
    step = result["profiled_step_s"]
    lines = [f"profile {result['shape']} {result['model']}: profiled step {step * 1e3:.1f} ms wall, "
             f"{result['operator_events']} profiler events"]
    for name, seconds in result["categories_s"].items():
        lines.append(f"  {name:<55} {seconds * 1e3:8.1f} ms  {100 * seconds / step:5.1f}%")
    lines.append("  top operators by self time:")
    for op in result.get("top_ops", []):
        lines.append(f"    {op['op'][:53]:<53} {op['self_s'] * 1e3:8.1f} ms  {100 * op['self_s'] / step:5.1f}%"
                     f"  x{op['calls']}")
    return "\n".join(lines)


# (description, Lq, Lk, masked, self-attention): every regime of MuLT's mask (bpmult.nn.masks)
MASK_REGIMES = (
    ("self-attention, mask off", 64, 64, False, True),
    ("self-attention, square causal mask", 64, 64, True, True),
    ("cross Lq = Lk, square causal mask", 64, 64, True, False),
    ("cross Lq < Lk, lower-right causal mask", 50, 375, True, False),
    ("cross Lq > Lk, tril(Lq - Lk) partial mask", 500, 375, True, False),
    ("cross Lq >> Lk, mask allows everything", 375, 50, True, False),
)
_BACKENDS = (
    ("_scaled_dot_product_flash_attention_for_cpu", "cpu flash (fused)"),
    ("_scaled_dot_product_flash_attention", "flash"),
    ("_flash_attention_forward", "flash"),
    ("_scaled_dot_product_efficient_attention", "memory-efficient"),
    ("_efficient_attention_forward", "memory-efficient"),
    ("_scaled_dot_product_cudnn_attention", "cudnn"),
    ("_scaled_dot_product_attention_math", "math (unfused)"),
    # no SDPA operator: CPU training with attention dropout runs bpmult.nn.attention.attend_with_dropout
    ("aten::baddbmm", "unfused, integer-draw dropout (ours)"),
)


def _dispatched_backend(events) -> str:
    names = {ev.name for ev in events}
    for op, backend in _BACKENDS:
        if any(name.endswith(op) for name in names):
            return backend
    return "unknown"


def attention_backends(*, dtype: torch.dtype = torch.float32, embed_dim: int = 768, num_heads: int = 6,
                       batch: int = 2) -> dict[str, Any]:
    """The SDPA kernel of each MuLT mask regime, on CUDA when available and on CPU, training and eval.

    Returns:
        ``{"cuda": "cuda not available" | [rows], "cpu": [rows], "cuda_flags": {...}}``; a row has
        ``regime, lq, lk, mask, dropout, backend``.
    """

    def rows_on(device: torch.device, run_dtype: torch.dtype) -> list[dict[str, Any]]:
        attn = bnn.MultiheadAttention(embed_dim=embed_dim, num_heads=num_heads, attn_dropout=0.1).to(device)
        rows = []
        for regime, lq, lk, masked, self_attention in MASK_REGIMES:
            q = torch.randn(batch, lq, embed_dim, device=device, requires_grad=True)
            kv = torch.randn(batch, lk, embed_dim, device=device)
            for training in (True, False):
                attn.train(training)
                cast = (torch.autocast(device.type, dtype=run_dtype) if run_dtype != torch.float32
                        else contextlib.nullcontext())
                with profile(activities=[ProfilerActivity.CPU]) as prof, cast:
                    if self_attention:
                        attn(q, masked=masked)
                    else:  # distinct key and value tensors, as in training
                        attn(q, kv, kv.clone(), masked=masked)
                rows.append({"regime": regime, "lq": lq, "lk": lk, "dtype": str(run_dtype).removeprefix("torch."),
                             "mask": sdpa_mask(lq, lk, device=device, masked=masked).kind,
                             "dropout": attn.attn_dropout if training else 0.0,
                             "backend": _dispatched_backend(prof.events())})
        return rows

    result: dict[str, Any] = {"cpu": rows_on(torch.device("cpu"), torch.float32)}
    if torch.cuda.is_available():
        result["cuda"] = rows_on(torch.device("cuda"), dtype)
        b = torch.backends.cuda
        result["cuda_flags"] = {"flash_sdp_enabled": b.flash_sdp_enabled(),
                                "mem_efficient_sdp_enabled": b.mem_efficient_sdp_enabled(),
                                "cudnn_sdp_enabled": b.cudnn_sdp_enabled(), "math_sdp_enabled": b.math_sdp_enabled()}
    else:
        result["cuda"] = "cuda not available"
    return result


def format_backends(result: dict[str, Any]) -> str:
    """The SDPA backend table(s) as text lines."""
    lines = []
    for device in ("cuda", "cpu"):
        rows = result[device]
        if isinstance(rows, str):
            lines.append(f"SDPA backends on {device}: {rows}")
            continue
        lines.append(f"SDPA backends on {device} ({rows[0]['dtype']}):")
        for r in rows:
            lines.append(f"  {r['regime']:<45} Lq {r['lq']:>3} Lk {r['lk']:>3}  mask {r['mask']:<18} "
                         f"dropout {r['dropout']:.1f}  -> {r['backend']}")
    if "cuda_flags" in result:
        lines.append("  torch.backends.cuda: " + ", ".join(f"{k}={v}" for k, v in result["cuda_flags"].items()))
    return "\n".join(lines)

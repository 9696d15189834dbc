"""MuLT's attention with dropout on its probabilities, as one autograd step, for CPU training.

Shape legend: ``N`` batch x heads (x encoders of a group), ``Lq``/``Lk`` query/key lengths,
``Dh`` head width.

``dropout(softmax(q k^T / sqrt(Dh) + bias)) v``, where the dropout's ``p`` may differ between
row blocks of ``N`` (the members of a group of encoders, :mod:`bpmult.nn.encoder_group`). Computed
by autograd, the dropped probabilities of the blocks are concatenated (a copy of the largest tensor
of the attention), the keep mask is scaled by ``1 / (1 - p)`` in a pass of its own, and the
backward rescales the products' gradients in passes of their own. Here each block's weighted sum
is written into its rows of the output, the scale rides on that product (``alpha``), and the
backward keeps the softmax output and the unscaled 0/1 masks only (the dropped probabilities are
recomputed per block: one product instead of a saved tensor). Equal to the composition up to float
rounding; the masks are :func:`bpmult.nn.dropout.keep_mask`'s, drawn block by block in order, as
:func:`bpmult.nn.dropout.dropout` would draw them.
"""

from __future__ import annotations

import torch

from bpmult.nn.dropout import keep_mask
from bpmult.nn.scores import attention_probabilities


# Below this many attention probabilities the step's own Python costs more than the passes it saves
# (MuLT at d 8, B 3, 7 steps: 0.6 ms per training step slower; at d 16, B 32, 20 steps: faster).
MIN_PROBABILITIES = 4096


def applies(q: torch.Tensor, k: torch.Tensor) -> bool:
    """Whether :func:`attend` serves queries ``q`` ``(..., Lq, Dh)`` and keys ``k`` ``(..., Lk, Dh)``:
    on the CPU (the keep masks are drawn there), without autocast (its products would run in
    another dtype than its in-place steps), from :data:`MIN_PROBABILITIES` probabilities on."""
    if q.device.type != "cpu" or torch.is_autocast_enabled("cpu"):
        return False
    return q.shape[:-1].numel() * k.shape[-2] >= MIN_PROBABILITIES


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, bias: torch.Tensor | None,
           runs: list[tuple[int, int, float]]) -> torch.Tensor:
    """Attention with per-block dropout on the probabilities.

    Args:
        q: ``(N, Lq, Dh)``; k, v: ``(N, Lk, Dh)``; CPU tensors.
        bias: ``(Lq, Lk)`` 0 / -inf score bias (MuLT's mask), or None.
        runs: ``(start, stop, p)`` row blocks of ``N``, in order and covering it; ``0 <= p < 1``.

    Returns:
        ``(N, Lq, Dh)``.
    """
    n = q.shape[0]
    if [r[0] for r in runs] != [0] + [r[1] for r in runs[:-1]] or not runs or runs[-1][1] != n:
        raise ValueError(f"attention dropout blocks {runs} do not cover the {n} rows in order")
    if any(not 0.0 <= p < 1.0 for _, _, p in runs):
        raise ValueError(f"attention dropout must be in [0, 1), got {[p for _, _, p in runs]}")
    return _Attend.apply(q, k, v, bias, tuple(runs))


class _Attend(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, bias, runs):
        probs = attention_probabilities(q, k, bias=bias)
        out = q.new_empty(q.shape[:-1] + v.shape[-1:])
        masks = []
        for lo, hi, p in runs:
            mask = None
            block = probs[lo:hi]
            if p > 0.0:
                mask = keep_mask(block.shape, p, dtype=probs.dtype, scaled=False)
                block = block * mask
            torch.baddbmm(out[lo:hi], block, v[lo:hi], beta=0.0, alpha=1.0 / (1.0 - p), out=out[lo:hi])
            masks.append(mask)
        ctx.save_for_backward(q, k, v, probs, *[m for m in masks if m is not None])
        ctx.runs, ctx.scale, ctx.dropped = runs, q.shape[-1] ** -0.5, [m is not None for m in masks]
        return out

    @staticmethod
    def backward(ctx, grad):
        q, k, v, probs, *saved = ctx.saved_tensors
        masks = iter(saved)
        grad = grad.contiguous()
        grad_probs = torch.bmm(grad, v.transpose(1, 2))
        grad_v = torch.empty_like(v)
        for (lo, hi, p), dropped in zip(ctx.runs, ctx.dropped):
            block, keep = probs[lo:hi], 1.0 / (1.0 - p)
            if dropped:
                mask = next(masks)
                block = block * mask
                grad_probs[lo:hi].mul_(mask)
            if keep != 1.0:
                grad_probs[lo:hi].mul_(keep)
            torch.baddbmm(grad_v[lo:hi], block.transpose(1, 2), grad[lo:hi], beta=0.0, alpha=keep,
                          out=grad_v[lo:hi])
        grad_scores = torch._softmax_backward_data(grad_probs, probs, -1, probs.dtype)
        del grad_probs
        empty = grad.new_empty(())
        grad_q = torch.baddbmm(empty, grad_scores, k, beta=0.0, alpha=ctx.scale)
        grad_k = torch.baddbmm(empty, grad_scores.transpose(1, 2), q, beta=0.0, alpha=ctx.scale)
        return grad_q, grad_k, grad_v, None, None

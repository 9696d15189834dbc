"""MuLT's feed-forward block of a group of encoders as one autograd step, for CPU training.

Shape legend: ``G`` encoders in a group, ``N`` rows (batch x steps), ``E`` width, ``F = 4E``.

``fc2(drop(relu(fc1(x))))`` per member, with ``x`` already normalised (LN1's affine is folded into
fc1, :mod:`bpmult.nn.encoder_group`). Computed by autograd, each elementwise step over the
``(G, N, F)`` hidden activations is a pass of its own and a tensor kept for the backward: ReLU's
output, the dropout mask, the dropped activations. Here:

- the ReLU and the dropout act in place on fc1's output, with an unscaled 0/1 keep mask; the
  dropout's ``1 / (1 - p)`` rides on fc2's product (``baddbmm(..., alpha=1 / (1 - p))``);
- the backward needs only that one hidden tensor: an element has a gradient exactly where it is
  positive (ReLU on and kept), so ``threshold_backward`` on it is the ReLU's and the dropout's
  backward at once, and the scale again rides on the products.

The result equals the autograd composition up to float rounding (the scale is applied after the
product instead of before it). The keep mask is :func:`bpmult.nn.dropout.keep_mask`'s, so the
random stream is the same as :func:`~bpmult.nn.dropout.dropout`'s on that tensor.
"""

from __future__ import annotations

import torch

from bpmult.nn.dropout import keep_mask
from bpmult.nn.hooks import forward_hooked


# Below this many input numbers (rows x width; the hidden layer has four times as many) the step's
# own Python costs more than the passes it saves (MuLT at d 8, B 3, 7 steps: 0.6 ms per training
# step slower; at d 16, B 32, 20 steps: faster).
MIN_ELEMENTS = 1024


def applies(x: torch.Tensor, *modules: torch.nn.Module) -> bool:
    """Whether :func:`feed_forward` serves ``x``: on the CPU (the keep mask is drawn there), no
    autocast (its products would run in another dtype than its in-place steps), from
    :data:`MIN_ELEMENTS` on, and no forward hook on the linear maps it replaces (their modules are
    not called)."""
    if x.device.type != "cpu" or torch.is_autocast_enabled("cpu") or x.numel() < MIN_ELEMENTS:
        return False
    return not forward_hooked(modules)


def feed_forward(x: torch.Tensor, fc1_w: torch.Tensor, fc1_b: torch.Tensor, fc2_w: torch.Tensor,
                 fc2_b: torch.Tensor, *, p: float, training: bool) -> torch.Tensor:
    """``fc2(drop(relu(fc1(x))))`` of every member.

    Args:
        x: ``(G, N, E)``.
        fc1_w, fc1_b: ``(G, F, E)``, ``(G, F)``.
        fc2_w, fc2_b: ``(G, E, F)``, ``(G, E)``.
        p: the dropout after the ReLU, ``0 <= p < 1``.
        training: drop only in training.

    Returns:
        ``(G, N, E)``.
    """
    p = p if training else 0.0
    if not 0.0 <= p < 1.0:
        raise ValueError(f"feed-forward dropout must be in [0, 1), got {p}")
    return _FeedForward.apply(x, fc1_w, fc1_b, fc2_w, fc2_b, p)


class _FeedForward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, fc1_w, fc1_b, fc2_w, fc2_b, p):
        hidden = torch.baddbmm(fc1_b[:, None], x, fc1_w.transpose(1, 2)).clamp_min_(0.0)
        scale = 1.0
        if p > 0.0:
            hidden.mul_(keep_mask(hidden.shape, p, dtype=hidden.dtype, scaled=False))
            scale = 1.0 / (1.0 - p)
        out = torch.baddbmm(fc2_b[:, None], hidden, fc2_w.transpose(1, 2), alpha=scale)
        ctx.save_for_backward(x, fc1_w, fc2_w, hidden)
        ctx.scale = scale
        return out

    @staticmethod
    def backward(ctx, grad):
        x, fc1_w, fc2_w, hidden = ctx.saved_tensors
        scale = ctx.scale
        grad = grad.contiguous()
        empty = grad.new_empty(())
        grad_fc2_w = torch.baddbmm(empty, grad.transpose(1, 2), hidden, beta=0.0, alpha=scale)
        grad_fc2_b = grad.sum(1)
        grad_hidden = torch.baddbmm(empty, grad, fc2_w, beta=0.0, alpha=scale)
        # zero where the hidden unit is 0: ReLU off or dropped (the two backward masks in one)
        grad_hidden = torch.ops.aten.threshold_backward(grad_hidden, hidden, 0.0)
        grad_fc1_w = torch.bmm(grad_hidden.transpose(1, 2), x)
        grad_fc1_b = grad_hidden.sum(1)
        grad_x = torch.bmm(grad_hidden, fc1_w)
        return grad_x, grad_fc1_w, grad_fc1_b, grad_fc2_w, grad_fc2_b, None

"""MuLT's attention probabilities, shared by every attention path that does not call SDPA.

Shape legend: ``N`` batch x heads (x encoders of a group), ``Lq``/``Lk`` query/key lengths,
``Dh`` head width.
"""

from __future__ import annotations

import torch


def attention_probabilities(q: torch.Tensor, k: torch.Tensor, *, bias: torch.Tensor | None) -> torch.Tensor:
    """``softmax(q k^T / sqrt(Dh) + bias)``: q ``(N, Lq, Dh)``, k ``(N, Lk, Dh)`` -> ``(N, Lq, Lk)``.

    ``bias``: ``(Lq, Lk)`` 0 / -inf (MuLT's mask), broadcast over N, or None.
    """
    scale = q.shape[-1] ** -0.5
    if bias is None:
        scores = torch.baddbmm(q.new_empty(()), q, k.transpose(1, 2), beta=0.0, alpha=scale)
    else:  # the bias broadcasts over batch and heads; one product adds it and scales
        scores = torch.baddbmm(bias, q, k.transpose(1, 2), alpha=scale)
    return scores.softmax(dim=-1)

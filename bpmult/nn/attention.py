"""Multi-head attention of the official MuLT, computed by ``F.scaled_dot_product_attention``.

Shape legend: ``B`` batch, ``Lq``/``Lk`` query/key lengths, ``E`` width, ``H`` heads,
``Dh = E / H`` head width.

The parameters have the official names and layouts (``in_proj_weight`` rows ``[W_q; W_k; W_v]``,
``in_proj_bias``, ``out_proj``), so official weights load one to one. Scaling the scores by
``Dh ** -0.5`` equals MuLT's scaling of the biased query; dropout acts on the attention
probabilities, as in MuLT. All heads run in one batched call. Projections are fused where inputs
coincide: one ``(3E x E)`` product for self-attention, one ``(2E x E)`` product for keys and values
given as the same tensor (cross-attention in evaluation); the mask takes the form that keeps SDPA's
fused kernels eligible (:func:`bpmult.nn.masks.sdpa_mask`).

One case is computed outside SDPA: training on CPU with attention dropout. SDPA has no fused CPU
kernel with dropout; its math path draws the dropout mask with ``bernoulli_``, which cost most of
a step over long sequences. :func:`attend_with_dropout` runs the same math (scores, MuLT's mask,
softmax, dropout, weighted values) with the cheaper mask of :mod:`bpmult.nn.dropout`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bpmult.nn import fused_attention
from bpmult.nn.dropout import dropout
from bpmult.nn.masks import additive_bias, sdpa_mask
from bpmult.nn.scores import attention_probabilities


class MultiheadAttention(nn.Module):
    """Scaled dot-product attention over ``H`` heads, with MuLT's optional mask.

    Args:
        embed_dim: E, the width of queries, keys, values and output.
        num_heads: H; must divide ``embed_dim``.
        attn_dropout: dropout on the attention probabilities (training only).
    """

    def __init__(self, *, embed_dim: int, num_heads: int, attn_dropout: float = 0.0) -> None:
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim {embed_dim} is not divisible by num_heads {num_heads}")
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.attn_dropout = attn_dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * embed_dim))
        self.out_proj = nn.Linear(embed_dim, embed_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """MuLT's initialisation: Xavier-uniform weights, zero biases."""
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.xavier_uniform_(self.out_proj.weight)
        nn.init.zeros_(self.in_proj_bias)
        nn.init.zeros_(self.out_proj.bias)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape
        return x.view(batch, length, self.num_heads, -1).transpose(1, 2)  # (B, H, L, Dh)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor | None = None,
        value: torch.Tensor | None = None,
        *,
        masked: bool = False,
        query_steps: tuple[int, ...] | None = None,
        query_len: int | None = None,
    ) -> torch.Tensor:
        """Attend from ``query`` to ``key``/``value`` (self-attention when they are None).

        Args:
            query: ``(B, Lq, E)``.
            key: ``(B, Lk, E)`` or None for self-attention.
            value: ``(B, Lk, E)``; required with ``key``.
            masked: apply MuLT's mask, allowed = ``ones(Lq, Lk).tril(|Lk - Lq|)``.
            query_steps: ``query`` holds only these steps (0-based) of a query sequence of length
                ``query_len``; the mask is then their rows (needs ``key``: self-attention over
                part of a sequence passes the whole normalised sequence as keys and values).
            query_len: the whole query's length, with ``query_steps``.

        Returns:
            ``(B, Lq, E)``.
        """
        E = self.embed_dim
        w, b = self.in_proj_weight, self.in_proj_bias
        if key is None:
            q, k, v = F.linear(query, w, b).chunk(3, dim=-1)
        elif value is None:
            raise ValueError("attention got keys without values")
        elif value is key:  # one product for both (rows [W_k; W_v])
            q = F.linear(query, w[:E], b[:E])
            k, v = F.linear(key, w[E:], b[E:]).chunk(2, dim=-1)
        else:
            w_q, w_k, w_v = w.split(E)
            b_q, b_k, b_v = b.split(E)
            q, k, v = F.linear(query, w_q, b_q), F.linear(key, w_k, b_k), F.linear(value, w_v, b_v)
        q, k, v = self._split_heads(q), self._split_heads(k), self._split_heads(v)
        lq, lk = q.shape[2], k.shape[2]
        if query_steps is not None and (key is None or query_len is None or len(query_steps) != lq):
            raise ValueError(f"query_steps {query_steps} need keys, query_len and {lq} query steps")
        whole_len = query_len if query_steps else lq
        p = self.attn_dropout if self.training else 0.0
        if p > 0.0 and own_training_attention(q.device):
            bias = additive_bias(whole_len, lk, device=q.device, dtype=q.dtype, masked=masked,
                                 query_steps=query_steps)
            out = attend_with_dropout(q, k, v, bias=bias, p=p)
        else:
            mask = sdpa_mask(whole_len, lk, device=q.device, masked=masked, query_steps=query_steps)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask.attn_mask, dropout_p=p,
                                                 is_causal=mask.is_causal)
        return self.out_proj(out.transpose(1, 2).reshape(out.shape[0], lq, E))


def own_training_attention(device: torch.device) -> bool:
    """Whether training attention with dropout runs :func:`attend_with_dropout` (CPU) rather than
    SDPA (other devices, where SDPA's dropout is fused)."""
    return device.type == "cpu"


def attend_with_dropout(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, bias: torch.Tensor | None,
                        p: float) -> torch.Tensor:
    """``dropout(softmax(q k^T / sqrt(Dh) + bias)) v`` over all heads at once (MuLT's attention in training).

    Args:
        q: ``(B, H, Lq, Dh)``; k, v: ``(B, H, Lk, Dh)``.
        bias: ``(Lq, Lk)`` 0 / -inf score bias (MuLT's mask), or None.
        p: attention dropout on the probabilities.

    Returns:
        ``(B, H, Lq, Dh)``.
    """
    batch, heads, lq, dh = q.shape
    q3, k3, v3 = (t.reshape(batch * heads, -1, dh) for t in (q, k, v))
    if fused_attention.applies(q, k):  # one autograd step, fewer passes
        return fused_attention.attend(q3, k3, v3, bias=bias, runs=[(0, batch * heads, p)]).view(batch, heads, lq, dh)
    probs = dropout(attention_probabilities(q3, k3, bias=bias), p, training=True)
    return torch.bmm(probs, v3).view(batch, heads, lq, dh)


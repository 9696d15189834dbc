"""Multi-head attention of the official MuLT, computed by ``F.scaled_dot_product_attention``.

Shape legend: ``B`` batch, ``Lq``/``Lk`` query/key lengths, ``E`` width, ``H`` heads,
``Dh = E / H`` head width.

The parameters have the official names and layouts (``in_proj_weight`` rows ``[W_q; W_k; W_v]``,
``in_proj_bias``, ``out_proj``), so official weights load one to one. Scaling the scores by
``Dh ** -0.5`` equals MuLT's scaling of the biased query; dropout acts on the attention
probabilities, as in MuLT. All heads run in one batched call.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bpmult.nn.masks import allowed_positions, masks_nothing


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
    ) -> torch.Tensor:
        """Attend from ``query`` to ``key``/``value`` (self-attention when they are None).

        Args:
            query: ``(B, Lq, E)``.
            key: ``(B, Lk, E)`` or None for self-attention.
            value: ``(B, Lk, E)``; required with ``key``.
            masked: apply MuLT's mask, allowed = ``ones(Lq, Lk).tril(|Lk - Lq|)``.

        Returns:
            ``(B, Lq, E)``.
        """
        E = self.embed_dim
        if key is None:
            q, k, v = F.linear(query, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
        else:
            if value is None:
                raise ValueError("attention got keys without values")
            w, b = self.in_proj_weight, self.in_proj_bias
            q = F.linear(query, w[:E], b[:E])
            k = F.linear(key, w[E : 2 * E], b[E : 2 * E])
            v = F.linear(value, w[2 * E :], b[2 * E :])
        q, k, v = self._split_heads(q), self._split_heads(k), self._split_heads(v)
        lq, lk = q.shape[2], k.shape[2]
        mask, is_causal = None, False
        if masked and not masks_nothing(lq, lk):
            if lq == lk:
                is_causal = True  # square case: the standard upper-left causal mask
            else:
                mask = allowed_positions(lq, lk, device=q.device)
        out = F.scaled_dot_product_attention(
            q, k, v,
            attn_mask=mask,
            dropout_p=self.attn_dropout if self.training else 0.0,
            is_causal=is_causal,
        )
        batch = out.shape[0]
        return self.out_proj(out.transpose(1, 2).reshape(batch, lq, E))

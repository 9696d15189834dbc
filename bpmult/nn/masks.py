"""The attention mask of the official MuLT, for any pair of query and key lengths.

Official MuLT (``buffered_future_mask``) forbids key ``j`` to query ``i`` when
``j - i >= 1 + |Lk - Lq|``. Equivalently the *allowed* positions are
``ones(Lq, Lk).tril(|Lk - Lq|)``:

- ``Lq == Lk``: the usual causal mask (row 0 sees one key, the last row sees all);
- ``Lq < Lk``: lower-right causal (the last query sees every key);
- ``Lq > Lk``: ``tril(Lq - Lk)``; when ``Lq - Lk >= Lk - 1`` nothing is masked at all.

No row is ever fully masked, so the softmax is always defined. There is no key-padding mask:
padded steps are attended like real ones, as in MuLT.
"""

from __future__ import annotations

import torch


def allowed_positions(query_len: int, key_len: int, *, device: torch.device | None = None) -> torch.Tensor:
    """Boolean mask of the key positions each query may attend to.

    Args:
        query_len: Lq, number of query steps.
        key_len: Lk, number of key steps.
        device: where to build the mask.

    Returns:
        ``(Lq, Lk)`` bool tensor, True where attention is allowed.
    """
    ones = torch.ones(query_len, key_len, dtype=torch.bool, device=device)
    return ones.tril(abs(key_len - query_len))


def masks_nothing(query_len: int, key_len: int) -> bool:
    """True when :func:`allowed_positions` allows every position (so no mask is needed).

    Row 0 allows keys ``0 .. |Lk - Lq|``; it is the most restricted row, and it sees every key
    exactly when ``|Lk - Lq| >= Lk - 1``.
    """
    return abs(key_len - query_len) >= key_len - 1

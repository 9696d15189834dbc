"""The attention mask of the official MuLT, for any pair of query and key lengths.

Official MuLT (``buffered_future_mask``) forbids key ``j`` to query ``i`` when
``j - i >= 1 + |Lk - Lq|``. Equivalently the *allowed* positions are
``ones(Lq, Lk).tril(|Lk - Lq|)``:

- ``Lq == Lk``: the usual causal mask (row 0 sees one key, the last row sees all);
- ``Lq < Lk``: lower-right causal (the last query sees every key);
- ``Lq > Lk``: ``tril(Lq - Lk)``; when ``Lq - Lk >= Lk - 1`` nothing is masked at all.

No row is ever fully masked, so the softmax is always defined. There is no key-padding mask:
padded steps are attended like real ones, as in MuLT.

:func:`sdpa_mask` turns the rule into the arguments of ``F.scaled_dot_product_attention`` that
keep the fused kernels eligible: nothing when the mask allows everything, ``is_causal`` for the
square case, PyTorch's lower-right ``CausalBias`` for ``Lq < Lk`` on CUDA (flash / memory-efficient
kernels; an explicit mask would force memory-efficient or math), and otherwise a boolean mask,
built once per (Lq, Lk, device) and cached, never a float mask. :func:`additive_bias` gives the
same rule as a cached 0 / -inf matrix for the one attention computed outside SDPA (CPU training
with attention dropout, :mod:`bpmult.nn.attention`).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

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


class SdpaMask(NamedTuple):
    """Mask arguments for ``F.scaled_dot_product_attention``.

    Attributes:
        attn_mask: None, a bool ``(Lq, Lk)`` tensor (True = allowed) or a lower-right ``CausalBias``.
        is_causal: True for the square (upper-left causal) case.
        kind: ``"none"``, ``"is_causal"``, ``"causal_lower_right"`` or ``"bool"`` (for reports).
    """

    attn_mask: torch.Tensor | None
    is_causal: bool
    kind: str


@functools.lru_cache(maxsize=256)
def _cached_allowed(query_len: int, key_len: int, device: torch.device) -> torch.Tensor:
    # built once per shape and device (a training step would otherwise rebuild it in every layer),
    # outside inference mode so that a mask first built in evaluation can be saved for backward
    with torch.inference_mode(False), torch.no_grad():
        return allowed_positions(query_len, key_len, device=device)


def sdpa_mask(
    query_len: int,
    key_len: int,
    *,
    device: torch.device,
    masked: bool = True,
    query_steps: tuple[int, ...] | None = None,
) -> SdpaMask:
    """MuLT's mask (or none when ``masked`` is False) in the cheapest exact form for SDPA.

    Args:
        query_len: Lq, the length of the whole query sequence.
        key_len: Lk.
        device: the device of the attention's inputs.
        masked: whether MuLT's mask applies at all.
        query_steps: the query holds only these steps (0-based, in ``0 .. Lq-1``) of the
            sequence; the mask is then their rows of the ``(Lq, Lk)`` mask.

    Returns:
        :class:`SdpaMask`; every form allows exactly :func:`allowed_positions` (or its rows).
    """
    if not masked or masks_nothing(query_len, key_len):
        return SdpaMask(None, False, "none")
    if query_steps is not None:
        # row i allows keys 0 .. i + |Lk - Lq|: every key when i + |Lk - Lq| >= Lk - 1 (the last row)
        if min(query_steps) + abs(key_len - query_len) >= key_len - 1:
            return SdpaMask(None, False, "none")
        return SdpaMask(_cached_rows(query_len, key_len, query_steps, device), False, "bool")
    if query_len == key_len:
        return SdpaMask(None, True, "is_causal")
    if query_len < key_len and device.type == "cuda":
        from torch.nn.attention.bias import causal_lower_right

        return SdpaMask(causal_lower_right(query_len, key_len), False, "causal_lower_right")
    return SdpaMask(_cached_allowed(query_len, key_len, device), False, "bool")


@functools.lru_cache(maxsize=256)
def _cached_rows(query_len: int, key_len: int, steps: tuple[int, ...], device: torch.device) -> torch.Tensor:
    with torch.inference_mode(False), torch.no_grad():
        return allowed_positions(query_len, key_len, device=device)[list(steps)]


def additive_bias(
    query_len: int,
    key_len: int,
    *,
    device: torch.device,
    dtype: torch.dtype,
    masked: bool = True,
    query_steps: tuple[int, ...] | None = None,
) -> torch.Tensor | None:
    """MuLT's mask as a score bias: 0 where allowed, ``-inf`` elsewhere; None when nothing is masked.

    Arguments as :func:`sdpa_mask` (``dtype``: the scores' dtype). Cached per shape, steps,
    device and dtype.
    """
    mask = sdpa_mask(query_len, key_len, device=device, masked=masked, query_steps=query_steps)
    if mask.kind == "none":
        return None
    return _cached_bias(query_len, key_len, query_steps, device, dtype)


@functools.lru_cache(maxsize=256)
def _cached_bias(query_len: int, key_len: int, steps: tuple[int, ...] | None, device: torch.device,
                 dtype: torch.dtype) -> torch.Tensor:
    with torch.inference_mode(False), torch.no_grad():
        allowed = allowed_positions(query_len, key_len, device=device)
        if steps is not None:
            allowed = allowed[list(steps)]
        bias = torch.zeros(allowed.shape, dtype=dtype, device=device)
        return bias.masked_fill_(~allowed, float("-inf"))

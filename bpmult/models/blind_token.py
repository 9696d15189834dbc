"""Measuring the blind [CLS] tokens of the paper's token rule under MuLT's causal mask.

The paper (§4.4) reads the *first* step of every sequence in BERT-text time. MuLT's attention
mask (on by default) lets query step ``i`` see keys ``0..i + |Lk - Lq|`` only (spec §1.2), and
every other part of a layer acts step by step, so step 0 of a crossmodal output depends on keys
``0..|Lk - Lq|`` alone. With equal lengths (MM-IMDb: text and GloVe both 512) the ``V->L`` token
sees one video step, and the level-2 ``(A->V)->L`` / ``(V->A)->L`` tokens, whose keys are level-1
outputs whose own step 0 saw one step, are as blind. The parallel branch's text encoder is a
causal self-attention over the 32 reduced steps, so its [CLS] token sees reduced step 0 only, on
every BERT dataset.

:func:`measure_blind_tokens` measures it: it changes every step of one modality from ``keep`` on
and returns, for every token of the model's analysis, the largest change. An exact ``0.0`` is a
token blind to those steps; the remedy (``token="first_plus_last"`` or ``"last"``) makes them
change.
"""

from __future__ import annotations

import torch

from bpmult.models.config import ModelConfig
from bpmult.models.registry import build_model

PARALLEL_KEY = "parallel_L[reduced steps 1..]"
"""The entry for the parallel text token when the steps after the first of its encoder's input change."""


def _tokens(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        logits, analysis = model(batch, return_analysis=True)
    out = {name: t for name, t in analysis["tokens"].items() if t.ndim == 2}
    out["logits"] = logits
    return out


def _changed(batch: dict[str, torch.Tensor], modality: str, keep: int, seed: int) -> dict[str, torch.Tensor]:
    x = batch[modality]
    if not 0 < keep < x.shape[1]:
        raise ValueError(f"keep must lie in 1..{x.shape[1] - 1} for {modality!r} of length {x.shape[1]}, got {keep}")
    g = torch.Generator().manual_seed(seed)
    new = x.clone()
    new[:, keep:] = torch.randn(new[:, keep:].shape, generator=g, dtype=torch.float64).to(x.dtype) + 1.0
    return {**batch, modality: new}


def measure_blind_tokens(
    cfg: ModelConfig,
    batch: dict[str, torch.Tensor],
    *,
    modality: str = "video",
    keep: int = 1,
    seed: int = 0,
) -> dict[str, float]:
    """Max |change| of every token when the steps ``keep..`` of ``modality`` change.

    Args:
        cfg: a model config (a random model of it is built in float64, eval mode, under a
            forked RNG seeded with ``seed``).
        batch: the model's inputs; ``batch[modality]`` gets new values at steps ``keep..``.
        modality: ``"video"``, ``"audio"`` or ``"text"``.
        keep: the first changed step (1: all but the first).
        seed: seeds the weights and the new values.

    Returns:
        ``{token name: max |delta|}`` for every 2-D token of the analysis (``"V->L"``,
        ``"(A->V)->L"``, ``"H'_L"``, ...) and ``"logits"``; with the parallel branch also
        :data:`PARALLEL_KEY`: the parallel text token's change when its encoder's input steps
        after the first change.
    """
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = build_model(cfg)
    model.double().eval()
    batch = {k: v.double() if v.is_floating_point() else v for k, v in batch.items()}
    before = _tokens(model, batch)
    after = _tokens(model, _changed(batch, modality, keep, seed + 1))
    deltas = {name: float((before[name] - after[name]).abs().max()) for name in before}
    if getattr(model.config, "parallel_branch", False) and hasattr(model, "parallel"):
        deltas[PARALLEL_KEY] = _parallel_text_delta(model, batch, seed)
    return deltas


def _parallel_text_delta(model: torch.nn.Module, batch: dict[str, torch.Tensor], seed: int) -> float:
    """The parallel text token's change when reduced steps 1.. of its encoder input change."""
    g = torch.Generator().manual_seed(seed + 2)

    def change_tail(module, args):
        (x,) = args[:1]
        x = x.clone()
        x[:, 1:] = torch.randn(x[:, 1:].shape, generator=g, dtype=torch.float64).to(x.dtype) + 1.0
        return (x, *args[1:])

    before = _tokens(model, batch)["parallel_L"]
    handle = model.parallel.encoders["text"].register_forward_pre_hook(change_tail)
    try:
        after = _tokens(model, batch)["parallel_L"]
    finally:
        handle.remove()
    return float((before - after).abs().max())

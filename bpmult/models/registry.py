"""Every model of the package by name: ``VARIANTS``, ``variant_config`` and ``build_model``.

A variant is a name for a set of :class:`ModelConfig` flag values, never a subclass. The flags
here are the only difference between variants; dims and sizes come from the caller (the data and
a training profile, or :mod:`bpmult.models.presets`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from torch import nn

from bpmult.models.config import ModelConfig
from bpmult.models.baselines import GMUClassifier
from bpmult.models.bpmult import BPMuLT
from bpmult.models.mult import MulT

VARIANTS: dict[str, str] = {
    "mult": "MuLT (Tsai et al. 2019): 6 crossmodal + 3 memory transformers, last tokens concatenated, residual head",
    "mult_gmu": "MuLT-GMU (Rodriguez-Bribiesca et al. 2021): MuLT's transformers, GMU over [h_L, h_V, h_A, extras]",
    "mult_gmu_no_encoder": "MuLT-GMU without memory encoders: GMU over the 6 level-1 tokens and extras",
    "gmu": "GMU (Arevalo et al. 2017): bimodal GMU over a mean word-vector sequence and the poster, then an MLP",
    "bpmult": "BPMuLT: biprojections, top/middle FGMUs, level-1 residuals, parallel branch, final GMU (paper §4)",
    "bpmult_no_parallel": "BPMuLT without the simple parallel branch (no H_P)",
    "bpmult_translating": "BPMuLT whose level-2 layers self-attend over the query before cross-attending (Fig. 10-11)",
    "bpmult_with_transformer": "BPMuLT with a width-2d self-attention transformer instead of the top FGMU "
    "(alone: also without residuals and middle FGMU; the definitions keep both, as the paper)",
    "bpmult_no_fgmu_middle": "BPMuLT without the middle FGMU (H'_M = H_M)",
    "bpmult_no_rc": "BPMuLT without the level-1 -> level-2 residuals (eq. 25-26)",
    "bpmult_no_fgmu": "BPMuLT without FGMUs: the 6 level-2 tokens (+ residuals), H_P and extras go to the final GMU",
    "bpmult_no_fgmu_nor_rc": "BPMuLT without FGMUs nor residuals: 6 raw level-2 tokens, H_P and extras to the final GMU",
    "bpmult_all_transformers": "BPMuLT, no parallel branch, no FGMUs: all 12 CT tokens and extras to the final GMU (Fig. 8-9)",
}

_FLAGS: dict[str, dict[str, Any]] = {
    "mult": dict(architecture="mult", mult_fusion="concat", token="last"),
    "mult_gmu": dict(architecture="mult", mult_fusion="gmu", token="last"),
    "mult_gmu_no_encoder": dict(architecture="mult", mult_fusion="gmu", memory_encoders=False, token="last"),
    "gmu": dict(architecture="gmu"),
    "bpmult": dict(architecture="bpmult"),
    "bpmult_no_parallel": dict(architecture="bpmult", parallel_branch=False),
    "bpmult_translating": dict(architecture="bpmult", level2_layer="translating"),
    "bpmult_with_transformer": dict(
        architecture="bpmult", top_fusion="transformer", level1_residual=False, middle_fgmu=False,
    ),
    "bpmult_no_fgmu_middle": dict(architecture="bpmult", middle_fgmu=False),
    "bpmult_no_rc": dict(architecture="bpmult", level1_residual=False),
    "bpmult_no_fgmu": dict(architecture="bpmult", top_fusion="none", middle_fgmu=False),
    "bpmult_no_fgmu_nor_rc": dict(architecture="bpmult", top_fusion="none", middle_fgmu=False, level1_residual=False),
    "bpmult_all_transformers": dict(
        architecture="bpmult", top_fusion="none", middle_fgmu=False, level1_residual=False,
        parallel_branch=False, final_level1_tokens=True,
    ),
}
assert set(_FLAGS) == set(VARIANTS)


def variant_flags(name: str) -> dict[str, Any]:
    """The config fields that define variant ``name``."""
    if name not in _FLAGS:
        raise ValueError(f"unknown model variant {name!r}; known: {', '.join(VARIANTS)}")
    return dict(_FLAGS[name])


def variant_config(name: str, **overrides: Any) -> ModelConfig:
    """The config of variant ``name`` with ``overrides`` (dims, sizes, dropouts, ...) applied.

    Overrides win over the variant's flags, so ``variant_config("bpmult", final_gmu_out="hidden")``
    gives the authors' final fusion.

    Raises:
        ValueError: unknown variant, unknown field, or an invalid combination.
    """
    known = {f.name for f in dataclasses.fields(ModelConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown ModelConfig fields {unknown}")
    return ModelConfig(**{**variant_flags(name), **overrides})


def build_model(cfg: ModelConfig) -> nn.Module:
    """The model of ``cfg`` (its ``architecture`` picks the class), freshly initialised."""
    builders = {"bpmult": BPMuLT, "mult": MulT, "gmu": GMUClassifier}
    return builders[cfg.architecture](cfg=cfg)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (works on the meta device)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)

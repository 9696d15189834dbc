"""Tiny, distinct sizes for model tests: batch 3, lengths 7/5/4, widths 12/10/6 (none equal d=8)."""

import torch

from bpmult.models import ModelConfig, variant_config

BATCH = 3
LENGTHS = {"text": 7, "video": 5, "audio": 4}
WIDTHS = {"text": 12, "video": 10, "audio": 6}
EXTRA_SETS = {
    "none": (),
    "poster": (("poster", 9),),
    "poster_metadata": (("poster", 9), ("metadata", 5)),
}
TINY = dict(
    orig_d_text=12, orig_d_video=10, orig_d_audio=6, d_model=8, num_heads=2, layers=2,
    len_text=7, len_video=5, len_audio=4, n_classes=3, parallel_len=3,
)


def tiny_config(variant: str, **overrides) -> ModelConfig:
    return variant_config(variant, **{**TINY, **overrides})


def tiny_batch(cfg: ModelConfig, *, seed: int = 0, lengths: dict | None = None) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    lengths = lengths or LENGTHS
    batch = {m: torch.randn(BATCH, lengths[m], cfg.orig_dims[m], generator=g) for m in ("text", "video", "audio")}
    batch["text"][0, :2] = 0.0  # left padding in sample 0
    for name, width in cfg.extras:
        batch[name] = torch.randn(BATCH, width, generator=g)
    return batch

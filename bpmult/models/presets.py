"""Input dims and paper sizes per dataset, for ``bpmult models`` and for training profiles.

The dims follow the specification's per-dataset wiring; d / heads / layers are the authors'
released commands (Moviescope and MM-IMDb: 768 / 6 / 5; IEMOCAP and CMU-MOSEI: 300 / 12 / 8).
The lengths are the authors' fixed lengths where known; a caller with data sets ``len_*`` from it.
"""

from __future__ import annotations

from typing import Any

from bpmult.models.config import ModelConfig
from bpmult.models.registry import variant_config

PAPER_SIZES: dict[str, dict[str, int]] = {
    "movies": dict(d_model=768, num_heads=6, layers=5),
    "emotions": dict(d_model=300, num_heads=12, layers=8),
}

DATASET_PRESETS: dict[str, dict[str, Any]] = {
    # BERT plot (first step [CLS]), 200 VGG16 frames, 96-bin mel through the audio encoder, VGG16 poster
    "moviescope": dict(
        orig_d_text=768, orig_d_video=4096, orig_d_audio=96, extras=(("poster", 4096),),
        n_classes=13, head="multilabel", text_first_token_is_cls=True, audio_encoder=True,
        len_text=512, len_video=200,
        len_audio=400,  # raw spectrogram frames: a placeholder >= 382 (encoder minimum); set from the data
        **PAPER_SIZES["movies"],
    ),
    # BERT plot, GloVe word vectors in the video slot, bag-of-words as a length x 1 audio sequence
    "mmimdb": dict(
        orig_d_text=768, orig_d_video=300, orig_d_audio=1, extras=(("poster", 4096),),
        n_classes=23, head="multilabel", text_first_token_is_cls=True,
        len_text=512, len_video=512, len_audio=512,
        **PAPER_SIZES["movies"],
    ),
    # GloVe 300 / FACET 35 / COVAREP 74, aligned 20 steps; 4 emotions x 2 logits
    "iemocap": dict(
        orig_d_text=300, orig_d_video=35, orig_d_audio=74, n_classes=4, head="iemocap",
        len_text=20, len_video=20, len_audio=20,
        **PAPER_SIZES["emotions"],
    ),
    # BERT utterance, FACET 35 / COVAREP 74 (unaligned); 6 emotions, sigmoid
    "mosei": dict(
        orig_d_text=768, orig_d_video=35, orig_d_audio=74, n_classes=6, head="multilabel",
        text_first_token_is_cls=True, len_text=512, len_video=512, len_audio=512,
        **PAPER_SIZES["emotions"],
    ),
}


def dataset_config(variant: str, dataset: str, **overrides: Any) -> ModelConfig:
    """``variant_config(variant, **DATASET_PRESETS[dataset], **overrides)``."""
    if dataset not in DATASET_PRESETS:
        raise ValueError(f"unknown dataset preset {dataset!r}; known: {', '.join(DATASET_PRESETS)}")
    return variant_config(variant, **{**DATASET_PRESETS[dataset], **overrides})

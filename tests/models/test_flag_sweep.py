"""Every value of every choice flag of ModelConfig: a valid combination builds and gives logits of
the exact shape (distinct sizes, so a transposed axis fails); an invalid one raises a ValueError
that names the flag."""

from __future__ import annotations

import pytest
import torch

from bpmult.models import build_model, variant_config
from bpmult.models.config import _CHOICES

SIZES = dict(orig_d_text=5, orig_d_video=3, orig_d_audio=2, len_text=7, len_video=5, len_audio=4, n_classes=3,
             d_model=8, num_heads=2, layers=1, parallel_len=4, parallel_layers=1, extras=(("poster", 6),))
CASES = [(flag, value) for flag, values in _CHOICES.items() for value in values if flag not in ("architecture",)]


@pytest.mark.parametrize("flag,value", CASES, ids=[f"{f}={v}" for f, v in CASES])
def test_every_value_of_every_flag(flag, value):
    base = "mult_gmu" if flag in ("mult_fusion",) else "gmu" if flag == "gmu_text_modality" else "bpmult"
    kwargs = {**SIZES, flag: value}
    if flag == "head" and value == "iemocap":
        kwargs["n_classes"] = 4
    if base == "gmu":
        kwargs.pop("extras")
        kwargs["extras"] = (("poster", 6),)
    try:
        cfg = variant_config(base, **kwargs)
    except ValueError as err:
        assert flag in str(err) or "needs" in str(err) or "acts on" in str(err), err
        return
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    batch = {"text": torch.randn(3, 7, 5), "video": torch.randn(3, 5, 3), "audio": torch.randn(3, 4, 2),
             "poster": torch.randn(3, 6)}
    logits = model(batch)
    assert logits.shape == (3, cfg.n_outputs)
    assert torch.isfinite(logits).all()

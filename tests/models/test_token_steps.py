"""Encoders whose output is read only as a token compute only those rows in their last layer
(issue 12, speed): MuLT's memory encoders, BPMuLT's biprojections (token mode), its transformer top
fusion and its parallel encoders. The eval logits, tokens and gates equal those of the full
encoder outputs for every variant, token rule and level-1 residual mode."""

from __future__ import annotations

import pytest
import torch

import bpmult.models.bpmult as bpmult_module
import bpmult.models.mult as mult_module
import bpmult.models.parallel as parallel_module
from bpmult.models import VARIANTS, build_model
from bpmult.models.parts import token_steps

from tiny_models import tiny_batch, tiny_config

RULES = ("last", "first_plus_last", "first_for_bert_text")


CASES = [(v, t, mode) for v in VARIANTS if v != "gmu" for t in RULES
         for mode in (("token", "sequence") if v.startswith("bpmult") else ("token",))]


@pytest.mark.parametrize("variant,token,mode", CASES)
def test_token_rows_equal_the_full_output(variant, token, mode, monkeypatch):
    cfg = tiny_config(variant, token=token, text_first_token_is_cls=True,
                      **({"level1_residual_mode": mode} if variant.startswith("bpmult") else {}))
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    batch = tiny_batch(cfg)
    with torch.no_grad():
        logits, analysis = model(batch, return_analysis=True)
        for module in (mult_module, bpmult_module, parallel_module):  # every encoder: the full sequence
            monkeypatch.setattr(module, "token_steps", lambda **kwargs: None)
        full_logits, full_analysis = model(batch, return_analysis=True)
    torch.testing.assert_close(logits, full_logits, rtol=0, atol=1e-6)
    for kind in ("tokens", "gates"):
        assert set(analysis[kind]) == set(full_analysis[kind])
        for name, value in full_analysis[kind].items():
            torch.testing.assert_close(analysis[kind][name], value, rtol=0, atol=1e-6, msg=f"{kind} {name}")


def test_token_steps_follow_take_token():
    assert token_steps(time_of="video", cfg=tiny_config("mult", token="last")) == (-1,)
    assert token_steps(time_of="audio", cfg=tiny_config("mult", token="first_plus_last")) == (0, -1)
    cls = tiny_config("mult", token="first_for_bert_text", text_first_token_is_cls=True)
    assert token_steps(time_of="text", cfg=cls) == (0,) and token_steps(time_of="audio", cfg=cls) == (-1,)

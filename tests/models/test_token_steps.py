"""MuLT's memory encoders compute only the rows their token reads (issue 12, speed): the eval
logits and tokens equal those of the full encoder output for every token rule."""

from __future__ import annotations

import pytest
import torch

import bpmult.models.mult as mult_module
from bpmult.models import build_model
from bpmult.models.parts import token_steps

from tiny_models import tiny_batch, tiny_config

RULES = ("last", "first_plus_last", "first_for_bert_text")


@pytest.mark.parametrize("variant", ["mult", "mult_gmu"])
@pytest.mark.parametrize("token", RULES)
def test_memory_encoders_on_token_rows_equal_the_full_output(variant, token, monkeypatch):
    cfg = tiny_config(variant, token=token, text_first_token_is_cls=True)
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    batch = tiny_batch(cfg)
    with torch.no_grad():
        logits, analysis = model(batch, return_analysis=True)
        monkeypatch.setattr(mult_module, "token_steps", lambda **kwargs: None)  # the full sequence
        full_logits, full_analysis = model(batch, return_analysis=True)
    torch.testing.assert_close(logits, full_logits, rtol=0, atol=1e-6)
    for name, value in full_analysis["tokens"].items():
        torch.testing.assert_close(analysis["tokens"][name], value, rtol=0, atol=1e-6, msg=name)


def test_token_steps_follow_take_token():
    assert token_steps(time_of="video", cfg=tiny_config("mult", token="last")) == (-1,)
    assert token_steps(time_of="audio", cfg=tiny_config("mult", token="first_plus_last")) == (0, -1)
    cls = tiny_config("mult", token="first_for_bert_text", text_first_token_is_cls=True)
    assert token_steps(time_of="text", cfg=cls) == (0,) and token_steps(time_of="audio", cfg=cls) == (-1,)

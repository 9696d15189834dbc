"""Flags of issue 10: level-2 dropout by key modality, the extra-vector bias, and BPMuLT-with-transformer
replacing only the top FGMU. Defaults keep the earlier behaviour."""

import pytest
import torch

from bpmult.models import build_model, count_parameters
from bpmult.models.bpmult import BIPROJECTION_SOURCES, biprojection_key

from tiny_models import tiny_batch, tiny_config


def level2_dropouts(model) -> dict[str, float]:
    return {key: enc.layers[0].self_attn.attn_dropout for key, enc in model.biprojection.items()}


def test_level2_dropout_is_attn_dropout_by_default_and_by_key_modality_on_request():
    cfg = tiny_config("bpmult", attn_dropout=0.3, attn_dropout_a=0.05, attn_dropout_v=0.15)
    assert set(level2_dropouts(build_model(cfg)).values()) == {0.3}
    by_key = level2_dropouts(build_model(tiny_config(
        "bpmult", attn_dropout=0.3, attn_dropout_a=0.05, attn_dropout_v=0.15, level2_dropout_by_key=True)))
    # keys Z_{M1->M2} live in M2's time: the authors' attn_dropout_a/v for the four in audio/video time
    assert by_key == {
        "audio_to_video_to_text": 0.15, "video_to_audio_to_text": 0.05,
        "audio_to_text_to_video": 0.3, "text_to_audio_to_video": 0.05,
        "video_to_text_to_audio": 0.3, "text_to_video_to_audio": 0.15,
    }
    assert sorted(by_key) == sorted(biprojection_key(a, b, m) for m, (x, y) in BIPROJECTION_SOURCES.items()
                                    for a, b in ((x, y), (y, x)))


def test_level2_dropout_acts_in_training():
    torch.manual_seed(0)
    cfg = tiny_config("bpmult", attn_dropout=0.0, attn_dropout_a=0.5, attn_dropout_v=0.5, relu_dropout=0.0,
                      res_dropout=0.0, embed_dropout=0.0, level2_dropout_by_key=True)
    model = build_model(cfg).train()
    batch = tiny_batch(cfg)
    assert not torch.equal(model(batch), model(batch))  # attention dropout now acts on level 2
    plain = build_model(tiny_config("bpmult", attn_dropout=0.0, attn_dropout_a=0.0, attn_dropout_v=0.0,
                                    relu_dropout=0.0, res_dropout=0.0, embed_dropout=0.0)).train()
    assert torch.equal(plain(batch), plain(batch))


@pytest.mark.parametrize("variant", ["bpmult", "mult_gmu", "mult"])
def test_extra_bias_switch(variant):
    with_bias = build_model(tiny_config(variant, extras=(("poster", 9),)))
    without = build_model(tiny_config(variant, extras=(("poster", 9),), extra_bias=False))
    assert with_bias.extras.poster.bias is not None and without.extras.poster.bias is None
    assert count_parameters(with_bias) - count_parameters(without) == 8  # d


@pytest.mark.parametrize("mode", ["token", "sequence"])
def test_with_transformer_may_keep_residuals_and_the_middle_fgmu(mode):
    base = dict(level1_residual_mode=mode, token="first_plus_last" if mode == "sequence" else "last")
    today = tiny_config("bpmult_with_transformer", **base)
    assert not today.level1_residual and not today.middle_fgmu  # the variant's flags are unchanged
    faithful = tiny_config("bpmult_with_transformer", level1_residual=True, middle_fgmu=True, **base)
    torch.manual_seed(0)
    model = build_model(faithful).eval()
    assert hasattr(model, "top_transformer") and hasattr(model, "middle_fgmu") and not hasattr(model, "top_fgmu")
    batch = tiny_batch(faithful)
    logits, analysis = model(batch, return_analysis=True)
    assert analysis["tokens"]["H'_L"].shape == (3, 16) and analysis["gates"]["middle_L"].shape == (3, 8)
    # each added term matters: switching it off changes the output with the same weights
    for off in (dict(level1_residual=False), dict(middle_fgmu=False)):
        cfg = tiny_config("bpmult_with_transformer", **{**dict(level1_residual=True, middle_fgmu=True), **off}, **base)
        other = build_model(cfg).eval()
        other.load_state_dict(model.state_dict(), strict=False)
        assert not torch.allclose(other(batch), logits)


def test_with_transformer_faithful_adds_the_middle_fgmu_to_both_halves():
    cfg = tiny_config("bpmult_with_transformer", level1_residual=False, middle_fgmu=True)
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    _, analysis = model(tiny_batch(cfg), return_analysis=True)
    tokens = analysis["tokens"]
    added = tokens["H'_V"] - tokens["H_V"]
    assert torch.allclose(added[:, :8], added[:, 8:])
    # target V: (M1, M2) = (A, L), the level-1 terms are token(Z_{A->L}) and token(Z_{L->A})
    middle = model.middle_fgmu["video"]([tokens["A->L"], tokens["L->A"]])
    assert torch.allclose(added[:, :8], middle.fused, atol=1e-6)


def test_the_token_remedy_values_exist():
    # the blind-[CLS] remedy is the existing token field (tests/models/test_blind_token.py measures it)
    for token in ("first_plus_last", "last"):
        assert tiny_config("bpmult", token=token).token == token

"""MuLT and MuLT-GMU: the official architecture's parameter counts, last_hs and the fusions."""

import pytest
import torch

from bpmult.models import build_model, count_parameters, variant_config
from tiny_models import BATCH, tiny_batch, tiny_config


@pytest.mark.parametrize("out_dim,layers,expected", [
    (1, 5, 1_073_731),  # MOSEI defaults of the official code (research notes §1.7)
    (8, 5, 1_074_998),  # IEMOCAP
    (1, 4, 874_651),    # nlevels 4
])
def test_parameter_count_equals_the_official_model(out_dim, layers, expected):
    cfg = variant_config(
        "mult", orig_d_text=300, orig_d_audio=74, orig_d_video=35, d_model=30, num_heads=5, layers=layers,
        n_classes=out_dim, extras=(),
    )
    with torch.device("meta"):
        assert count_parameters(build_model(cfg)) == expected


@torch.no_grad()
def test_last_hs_is_l_a_v_of_the_memory_encoders():
    cfg = tiny_config("mult")
    model = build_model(cfg).eval()
    batch = tiny_batch(cfg)
    logits, analysis = model(batch, return_analysis=True)
    t = analysis["tokens"]
    assert t["last_hs"].shape == (BATCH, 6 * cfg.d_model)
    assert torch.equal(t["last_hs"], torch.cat([t["h_L"], t["h_A"], t["h_V"]], dim=-1))
    x = model.inputs(batch)
    z = model.crossmodal(x)
    h_l = model.memory["text"](torch.cat([z[("audio", "text")], z[("video", "text")]], dim=-1))
    assert len(model.memory["text"].layers) == 3  # max(layers=2, 3)
    assert torch.allclose(t["h_L"], h_l[:, -1], atol=1e-6)
    assert torch.allclose(logits, model.head(t["last_hs"]), atol=1e-6)
    assert analysis["gates"] == {}


@torch.no_grad()
def test_extras_are_projected_and_concatenated_before_the_head():
    cfg = tiny_config("mult", extras=(("poster", 9), ("metadata", 5)))
    model = build_model(cfg).eval()
    assert model.head.residual.proj1.in_features == 6 * cfg.d_model + 2 * cfg.d_model
    batch = tiny_batch(cfg)
    logits, analysis = model(batch, return_analysis=True)
    t = analysis["tokens"]
    assert torch.allclose(logits, model.head(torch.cat([t["last_hs"], t["E_poster"], t["E_metadata"]], -1)), atol=1e-6)


@torch.no_grad()
def test_mult_gmu_fuses_memory_tokens_and_extras():
    cfg = tiny_config("mult_gmu", extras=(("poster", 9),))
    model = build_model(cfg).eval()
    assert model.final_gmu.in_dims == (2 * cfg.d_model,) * 3 + (cfg.d_model,)
    logits, analysis = model(tiny_batch(cfg), return_analysis=True)
    t = analysis["tokens"]
    out = model.final_gmu([t["h_L"], t["h_V"], t["h_A"], t["E_poster"]])
    assert torch.allclose(analysis["gates"]["final"], out.gates)
    assert torch.allclose(logits, model.head(out.fused), atol=1e-6)


@torch.no_grad()
def test_mult_gmu_no_encoder_fuses_the_six_ct_tokens():
    cfg = tiny_config("mult_gmu_no_encoder", extras=(("poster", 9),))
    model = build_model(cfg).eval()
    logits, analysis = model(tiny_batch(cfg), return_analysis=True)
    t = analysis["tokens"]
    out = model.final_gmu([t[n] for n in model.final_inputs[:6]] + [t["E_poster"]])
    assert torch.allclose(logits, model.head(out.fused), atol=1e-6)


def test_projection_is_skipped_for_a_modality_already_of_width_d():
    model = build_model(tiny_config("mult", orig_d_video=8))
    assert set(model.inputs.project) == {"text", "audio"}
    kept = build_model(tiny_config("mult", orig_d_video=8, skip_equal_projection=False))
    assert set(kept.inputs.project) == {"text", "video", "audio"}


@torch.no_grad()
def test_gmu_baseline_averages_real_steps():
    cfg = tiny_config("gmu", extras=(("poster", 9),))
    model = build_model(cfg).eval()
    batch = tiny_batch(cfg)
    batch["video"][1, 3:] = 0.0  # two padding steps
    _, analysis = model(batch, return_analysis=True)
    mean = analysis["tokens"]["mean_V"]
    assert torch.allclose(mean[1], batch["video"][1, :3].mean(0), atol=1e-6)
    assert torch.allclose(mean[0], batch["video"][0].mean(0), atol=1e-6)
    assert torch.allclose(analysis["gates"]["final"].sum(1), torch.ones(BATCH, cfg.d_model))

"""ModelConfig: validation naming the numbers, immutability, round trips, and the registry."""

import dataclasses
import json

import pytest

from bpmult.models import VARIANTS, ModelConfig, variant_config
from bpmult.models.presets import DATASET_PRESETS, dataset_config


@pytest.mark.parametrize("overrides,message", [
    (dict(d_model=10, num_heads=3), "d_model 10 is not divisible by num_heads 3"),
    (dict(d_model=2, num_heads=1), "at least 4"),
    (dict(kernel_video=2), "kernel_video must be odd and positive.*got 2"),
    (dict(layers=0), "layers must be a positive integer, got 0"),
    (dict(attn_dropout=1.0), r"attn_dropout must lie in \[0, 1\), got 1.0"),
    (dict(head="softmax"), "head must be one of"),
    (dict(token="middle"), "token must be one of"),
    (dict(audio_encoder=True, len_audio=300), "needs len_audio >= 382, got 300"),
    (dict(extras=(("poster", 4), ("poster", 5))), "unique"),
    (dict(extras=(("text", 4),)), "identifier other than"),
    (dict(extras=(("poster", 0),)), "positive width"),
    (dict(parallel_layers=0), "parallel_layers must be positive or None, got 0"),
    (dict(top_fusion="none"), "middle_fgmu .* needs top_fusion 'fgmu' or 'transformer', got 'none'"),
    (dict(text_encoder=""), "text_encoder must be a model name"),
    (dict(text_encoder_mode="partial"), "text_encoder_mode must be one of"),
    (dict(final_level1_tokens=True), "needs top_fusion='none', got 'fgmu'"),
])
def test_invalid_configs_raise_naming_the_values(overrides, message):
    with pytest.raises(ValueError, match=message):
        variant_config("bpmult", **overrides)


def test_gmu_baseline_needs_exactly_one_extra():
    with pytest.raises(ValueError, match=r"exactly one extra vector, got extras \[\]"):
        variant_config("gmu")
    assert variant_config("gmu", extras=(("poster", 4096),)).architecture == "gmu"


def test_unknown_variant_and_field():
    with pytest.raises(ValueError, match="unknown model variant 'bpmult_xl'"):
        variant_config("bpmult_xl")
    with pytest.raises(ValueError, match=r"unknown ModelConfig fields \['d_hidden'\]"):
        variant_config("bpmult", d_hidden=3)


def test_frozen_and_round_trips_through_json():
    cfg = variant_config("bpmult", extras=(("poster", 4096), ("metadata", 312)), parallel_layers=None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.d_model = 3
    again = ModelConfig.from_dict(json.loads(cfg.to_json()))  # extras come back as lists
    assert again == cfg and hash(again) == hash(cfg)
    with pytest.raises(ValueError, match="unknown ModelConfig fields"):
        ModelConfig.from_dict({**cfg.to_dict(), "colour": "red"})


def test_paper_is_the_default_and_code_choices_are_values():
    cfg = ModelConfig()
    assert (cfg.final_gmu_out, cfg.parallel_fusion, cfg.parallel_layers, cfg.token, cfg.level2_layer,
            cfg.level1_residual_mode, cfg.parallel_len) == (
        "classes", "extended_fgmu", 3, "first_for_bert_text", "cross", "token", 32)
    code = variant_config(
        "bpmult", final_gmu_out="hidden", parallel_fusion="gmu", parallel_layers=None, token="first_plus_last",
        level1_residual_mode="sequence",
    )
    assert code.final_gmu_out == "hidden"


def test_overrides_win_over_variant_flags_and_every_variant_is_valid():
    assert variant_config("bpmult_no_parallel", parallel_branch=True).parallel_branch
    for name in VARIANTS:
        extras = (("poster", 4096),) if name == "gmu" else ()
        assert variant_config(name, extras=extras).architecture in ("bpmult", "mult", "gmu")


def test_derived_values():
    cfg = variant_config("bpmult", head="iemocap", n_classes=4, audio_encoder=True, len_audio=500, layers=2)
    assert cfg.n_outputs == 8
    assert cfg.model_lengths["audio"] == cfg.audio_encoder_len == 200
    assert cfg.memory_layers == 3


@pytest.mark.parametrize("dataset", DATASET_PRESETS)
def test_dataset_presets_are_valid(dataset):
    cfg = dataset_config("bpmult", dataset)
    assert cfg.d_model % cfg.num_heads == 0
    with pytest.raises(ValueError, match="unknown dataset preset"):
        dataset_config("bpmult", "imagenet")

"""The named model definitions: ``authors`` is what the parity files verify, ``paper`` the defaults."""

import dataclasses
from pathlib import Path

import pytest
import torch

from bpmult import cli
from bpmult.models import VARIANTS, ModelConfig, build_model, count_parameters
from bpmult.models.authors import check_authors, read_authors_reference
from bpmult.models.definitions import (
    DEFINITIONS,
    definition_config,
    definition_overrides,
    definition_text_encoder,
    definition_train_overrides,
)
from bpmult.models.presets import DATASET_PRESETS

DATA = Path(__file__).parents[1] / "data"
# file -> (the dataset whose class it is, our variant)
PARITY = {
    "bpmult_authors_moviescope.npz": ("moviescope", "bpmult"),
    "bpmult_authors_3input.npz": ("mosei", "bpmult"),
    "mg_mult_gmu_tvap.npz": ("moviescope", "mult_gmu"),
}


@pytest.mark.parametrize("file", PARITY)
def test_the_authors_definition_is_what_the_parity_files_verify(file):
    dataset, variant = PARITY[file]
    ref = read_authors_reference(DATA / file)
    assert ref.variant == variant
    ours = definition_overrides("authors", dataset, variant)
    declared = {k: v for k, v in ours.items() if k in ref.overrides}
    assert declared == {k: ref.overrides[k] for k in declared}  # no field the file states differs
    # the fields the file leaves at their defaults (level-2 dropout, poster bias) change nothing in eval
    assert max(check_authors(DATA / file, **ours).values()) <= 1e-5


def test_the_authors_3input_file_is_also_the_iemocap_class():
    assert definition_overrides("authors", "iemocap", "bpmult") == definition_overrides("authors", "mosei", "bpmult")


def test_paper_is_the_config_defaults():
    defaults = ModelConfig()
    for dataset in DATASET_PRESETS:
        for key, value in definition_overrides("paper", dataset, "bpmult").items():
            assert getattr(defaults, key) == value, key


def test_the_two_definitions_differ_where_the_fidelity_table_says():
    paper = definition_overrides("paper", "moviescope", "bpmult")
    authors = definition_overrides("authors", "moviescope", "bpmult")
    differ = {k for k in paper.keys() | authors.keys() if paper.get(k) != authors.get(k)}
    assert differ == {
        "token", "level1_residual_mode", "final_gmu_out", "parallel_fusion", "parallel_layers", "level2_layer",
        "translating_shared_weights", "translating_query_norm", "level2_dropout_by_key", "extra_bias",
        "len_text", "len_video",
    }
    assert definition_overrides("authors", "mosei", "bpmult")["level2_layer"] == "cross"  # 3-input class
    assert "extra_bias" not in definition_overrides("authors", "mosei", "bpmult")  # no poster


def test_with_transformer_replaces_only_the_top_fgmu_under_both():
    for definition in DEFINITIONS:
        cfg = definition_config(definition, "mosei", "bpmult_with_transformer")
        assert cfg.top_fusion == "transformer" and cfg.level1_residual and cfg.middle_fgmu


def test_translating_ablation_keeps_translating_in_the_definition_form():
    paper = definition_config("paper", "mosei", "bpmult_translating")
    authors = definition_config("authors", "mosei", "bpmult_translating")
    assert paper.level2_layer == authors.level2_layer == "translating"
    assert (paper.translating_shared_weights, paper.translating_query_norm) == (False, True)
    assert (authors.translating_shared_weights, authors.translating_query_norm) == (True, False)


@pytest.mark.parametrize("definition", DEFINITIONS)
@pytest.mark.parametrize("dataset", list(DATASET_PRESETS))
def test_every_variant_builds_under_every_definition(definition, dataset):
    for variant in VARIANTS:
        if variant == "gmu" and not DATASET_PRESETS[dataset].get("extras"):
            continue
        with torch.device("meta"):
            assert count_parameters(build_model(definition_config(definition, dataset, variant))) > 0


def test_small_models_of_both_definitions_run():
    for definition in DEFINITIONS:
        cfg = definition_config(
            definition, "moviescope", "bpmult_with_transformer", d_model=8, num_heads=2, layers=1,
            orig_d_text=6, orig_d_video=5, extras=(("poster", 4),), len_text=6, len_video=5, len_audio=20,
            audio_encoder_kernel=3, audio_encoder_stride=2, audio_encoder_len=4, parallel_len=3,
        )
        torch.manual_seed(0)
        model = build_model(cfg).eval()
        batch = {"text": torch.randn(2, 6, 6), "video": torch.randn(2, 5, 5), "audio": torch.randn(2, 20, 96),
                 "poster": torch.randn(2, 4)}
        logits, analysis = model(batch, return_analysis=True)
        assert logits.shape == (2, 13) and analysis["gates"]["middle_L"].shape == (2, 8)


def test_train_overrides():
    assert definition_train_overrides("authors", "moviescope", "bpmult") == {
        "amp": False, "early_stop_ties": True, "lr_mode": "max"}
    assert definition_train_overrides("paper", "moviescope", "bpmult")["early_stop_ties"] is False
    assert definition_train_overrides("paper", "mosei", "mult")["lr_mode"] == "min_loss"
    assert definition_train_overrides("authors", "iemocap", "mult")["lr_mode"] == "min_loss"
    assert definition_train_overrides("authors", "moviescope", "mult")["lr_mode"] == "max"


def test_text_encoder_by_definition():
    assert definition_text_encoder("authors", "mosei")["text_encoder_mode"] == "finetune"
    assert definition_text_encoder("paper", "moviescope")["text_encoder_mode"] == "frozen"
    assert definition_text_encoder("authors", "iemocap") == {}


def test_unknown_names_raise():
    with pytest.raises(ValueError, match="unknown model definition 'code'; known: authors, paper"):
        definition_overrides("code", "mosei", "bpmult")
    with pytest.raises(ValueError, match="unknown dataset 'imdb'"):
        definition_train_overrides("paper", "imdb", "bpmult")


def test_models_command_prints_counts_per_definition(capsys):
    counts = {}
    for definition in DEFINITIONS:
        assert cli.main(["models", "--dataset", "mosei", "--definition", definition]) == 0
        out = capsys.readouterr().out
        assert f"definition: {definition}" in out
        counts[definition] = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:] if "," in line.split()[1]}
    assert counts["authors"]["mult"] == counts["paper"]["mult"]
    assert counts["authors"]["bpmult"] != counts["paper"]["bpmult"]


def test_definitions_only_name_model_config_fields():
    fields = {f.name for f in dataclasses.fields(ModelConfig)}
    for definition in DEFINITIONS:
        for dataset in DATASET_PRESETS:
            for variant in VARIANTS:
                assert set(definition_overrides(definition, dataset, variant)) <= fields

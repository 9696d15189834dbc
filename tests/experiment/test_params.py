"""Profiles: params.yaml, its packaged copy, resolution and ``--set`` parsing."""

from pathlib import Path

import pytest
import yaml

from bpmult.experiment import params as profiles
from bpmult.train.config import TrainConfig

REPO = Path(__file__).resolve().parents[2]
DATASETS = ("moviescope", "mmimdb", "iemocap_aligned", "iemocap_unaligned", "mosei")


@pytest.fixture(scope="module")
def params():
    return profiles.load_params(REPO / "params.yaml")


def test_packaged_params_is_the_repository_file_not_a_copy():
    # `dvc exp run -S` rewrites params.yaml; a link cannot fall out of step with it
    packaged = REPO / "bpmult" / "resources" / "params.yaml"
    assert packaged.is_symlink() and packaged.resolve() == (REPO / "params.yaml").resolve()


def test_malformed_params_file_is_one_line_naming_file_and_line(tmp_path):
    (tmp_path / "params.yaml").write_text("profile: embedded\nembedded: {seeds: [1, 2\n")
    with pytest.raises(ValueError, match=r"params.yaml: not valid YAML at line \d+") as err:
        profiles.load_params(tmp_path / "params.yaml")
    assert "\n" not in str(err.value)


def test_load_params_falls_back_to_packaged_copy(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert profiles.load_params() == profiles.load_params(REPO / "params.yaml")
    (tmp_path / "params.yaml").write_text("profile: mine\nmine: {seeds: [7]}\n")
    assert profiles.load_params()["profile"] == "mine"
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        profiles.load_params(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("- 1\n")
    with pytest.raises(ValueError, match="profile"):
        profiles.load_params(tmp_path / "bad.yaml")


def test_every_profile_resolves_for_every_dataset_and_configured_variant(params):
    assert params["profile"] == "embedded"
    assert {"embedded", "paper", "smoke"} <= set(profiles.profile_names(params))
    for profile in profiles.profile_names(params):
        assert set(profiles.dataset_names(params, profile)) == set(DATASETS), profile
        for dataset in DATASETS:
            variants = ["bpmult", *params[profile][dataset].get("variants", {})]
            for variant in variants:
                resolved = profiles.resolve(params, dataset, variant, profile=profile)
                assert isinstance(resolved.train, TrainConfig)
                assert resolved.seeds == params[profile]["seeds"]


def test_paper_profile_matches_the_authors_commands(params):
    # reproduction spec §4: batch × accumulation, lr, heads, layers, d; patience 6 or 5
    expected = {"moviescope": (8, 8, 5e-5, 6, 5, 768, 6), "mmimdb": (6, 6, 5e-5, 6, 5, 768, 6),
                "iemocap_aligned": (8, 8, 5e-5, 12, 8, 300, 5), "iemocap_unaligned": (8, 8, 5e-5, 12, 8, 300, 5),
                "mosei": (8, 8, 5e-5, 12, 8, 300, 5)}
    for dataset, (batch, accum, lr, heads, layers, d, patience) in expected.items():
        r = profiles.resolve(params, dataset, "bpmult", profile="paper")
        assert (r.train.batch_size, r.train.grad_accum, r.train.lr, r.train.patience) == (batch, accum, lr, patience)
        assert (r.train.max_epochs, r.train.lr_patience, r.train.lr_factor, r.train.clip) == (100, 2, 0.5, None)
        assert (r.model_overrides["num_heads"], r.model_overrides["layers"], r.model_overrides["d_model"]) == (heads, layers, d)
        assert r.model_overrides["embed_dropout"] == 0.25
        assert r.train.num_workers == 4  # issue 9.8: workers (and pinned memory) feed the GPU
    assert profiles.resolve(params, "moviescope", "bpmult", profile="paper").seeds == [1, 2, 3, 4, 5]
    # MuLT on IEMOCAP / MOSEI: MuLT paper Table 5
    mult = profiles.resolve(params, "iemocap_unaligned", "mult", profile="paper")
    assert (mult.model_overrides["d_model"], mult.model_overrides["layers"], mult.model_overrides["num_heads"]) == (40, 4, 10)
    assert (mult.train.batch_size, mult.train.lr, mult.train.clip, mult.train.max_epochs) == (32, 2e-3, 0.8, 30)
    mult = profiles.resolve(params, "mosei", "mult", profile="paper")
    assert (mult.model_overrides["num_heads"], mult.train.batch_size, mult.train.lr, mult.train.clip) == (8, 16, 1e-3, 1.0)


def test_embedded_profile_is_small(params):
    for dataset in DATASETS:
        r = profiles.resolve(params, dataset, "bpmult", profile="embedded")
        assert r.model_overrides["d_model"] <= 32 and r.model_overrides["layers"] == 1
        assert r.train.max_epochs <= 15 and r.train.grad_accum == 1 and r.train.cpu_threads == 1
        assert len(r.seeds) == 2


def test_variant_section_overrides_dataset_section():
    params = yaml.safe_load("""
profile: p
p:
  seeds: [3]
  ds:
    model: {d_model: 8, layers: 2}
    train: {lr: 0.01, batch_size: 4}
    variants:
      mult: {model: {layers: 5}, train: {batch_size: 2}}
""")
    base = profiles.resolve(params, "ds", "bpmult")
    assert base.model_overrides == {"d_model": 8, "layers": 2}
    assert (base.train.lr, base.train.batch_size) == (0.01, 4)
    special = profiles.resolve(params, "ds", "mult")
    assert special.model_overrides == {"d_model": 8, "layers": 5}
    assert (special.train.lr, special.train.batch_size) == (0.01, 2)
    assert params["p"]["ds"]["model"] == {"d_model": 8, "layers": 2}  # resolution does not mutate


@pytest.mark.parametrize("text, section, key, value", [
    ("train.lr=1e-3", "train", "lr", 1e-3),
    ("train.lr=0.5", "train", "lr", 0.5),
    ("model.d_model=32", "model", "d_model", 32),
    ("train.clip=null", "train", "clip", None),
    ("train.amp=false", "train", "amp", False),
    ("model.token=last", "model", "token", "last"),
    ("seeds=[1, 2]", "seeds", "seeds", [1, 2]),
    ("seeds=1-3", "seeds", "seeds", "1-3"),
])
def test_parse_override(text, section, key, value):
    assert profiles.parse_override(text) == (section, key, value)


def test_overrides_apply_last(params):
    r = profiles.resolve(params, "mosei", "bpmult", profile="embedded",
                         overrides=["train.lr=1e-4", "model.d_model=32", "seeds=1-3", "train.clip=0.5"])
    assert r.train.lr == 1e-4 and r.train.clip == 0.5
    assert r.model_overrides["d_model"] == 32
    assert r.seeds == [1, 2, 3]
    assert r.overrides == ("train.lr=1e-4", "model.d_model=32", "seeds=1-3", "train.clip=0.5")


@pytest.mark.parametrize("override, message", [
    ("train.lrr=1", "train.lrr.*valid.*train.lr"),
    ("optim.lr=1", "unknown key 'optim.lr'.*valid"),
    ("lr", "key=value"),
    ("model.n_classes=3", "manifest"),
    ("model.orig_d_text=3", "manifest"),
    ("train.batch_size=0", "batch_size"),
    ("seeds=3-1", "seeds"),
])
def test_bad_overrides_name_the_key(params, override, message):
    with pytest.raises(ValueError, match=message):
        profiles.resolve(params, "moviescope", "bpmult", profile="embedded", overrides=[override])


def test_unknown_model_key_is_rejected_when_models_are_present(params):
    if profiles.model_field_names() is None:
        pytest.skip("bpmult.models not present")
    with pytest.raises(ValueError, match="d_modle.*valid.*d_model"):
        profiles.resolve(params, "moviescope", "bpmult", profile="embedded", overrides=["model.d_modle=8"])
    with pytest.raises(ValueError, match="variant 'nope'.*valid"):
        profiles.resolve(params, "moviescope", "nope", profile="embedded")


def test_unknown_profile_dataset_and_section_keys(params):
    with pytest.raises(ValueError, match="profile 'nope'.*valid"):
        profiles.resolve(params, "moviescope", "bpmult", profile="nope")
    with pytest.raises(ValueError, match="dataset 'mnist'.*valid"):
        profiles.resolve(params, "mnist", "bpmult")
    bad = yaml.safe_load("profile: p\np: {seeds: [1], ds: {modle: {}}}")
    with pytest.raises(ValueError, match=r"p\.ds.*modle.*valid"):
        profiles.resolve(bad, "ds", "bpmult")
    bad = yaml.safe_load("profile: p\np: {seeds: [1], ds: {train: {epochs: 3}}}")
    with pytest.raises(ValueError, match="epochs.*valid"):
        profiles.resolve(bad, "ds", "bpmult")


@pytest.mark.parametrize("text, seeds", [("1-5", [1, 2, 3, 4, 5]), ("1,3", [1, 3]), ("1-3,7", [1, 2, 3, 7]),
                                         (4, [4]), ([2, 9], [2, 9]), (" 2 , 4 ", [2, 4])])
def test_parse_seeds(text, seeds):
    assert profiles.parse_seeds(text) == seeds


@pytest.mark.parametrize("text", ["", "a", "5-1", "1,1", "1-", [1, "2"], True])
def test_parse_seeds_rejects(text):
    with pytest.raises(ValueError, match="seeds"):
        profiles.parse_seeds(text)


def test_train_config_validation():
    assert TrainConfig.from_dict({"lr": 1}).lr == 1.0
    for bad in ({"batch_size": 0}, {"grad_accum": 1.5}, {"lr": -1.0}, {"lr_factor": 1.0}, {"clip": 0.0},
                {"amp": "yes"}, {"eval_batch_size": 0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            TrainConfig.from_dict(bad)
    with pytest.raises(ValueError, match="unknown.*epochs"):
        TrainConfig.from_dict({"epochs": 3})
    with pytest.raises(dataclasses_frozen_error()):
        TrainConfig().lr = 1.0  # type: ignore[misc]


def dataclasses_frozen_error():
    import dataclasses

    return dataclasses.FrozenInstanceError


def test_every_profile_gives_valid_model_configs(params):
    models = pytest.importorskip("bpmult.models")
    preset = {"moviescope": "moviescope", "mmimdb": "mmimdb", "iemocap_aligned": "iemocap",
              "iemocap_unaligned": "iemocap", "mosei": "mosei"}
    for profile in profiles.profile_names(params):
        for dataset in DATASETS:
            has_extra = bool(models.DATASET_PRESETS[preset[dataset]].get("extras"))
            for variant in models.VARIANTS:
                if variant == "gmu" and not has_extra:  # the GMU baseline fuses a sequence with the poster
                    continue
                r = profiles.resolve(params, dataset, variant, profile=profile)
                cfg = models.dataset_config(variant, preset[dataset], **r.model_overrides)
                assert cfg.d_model == r.model_overrides["d_model"], (profile, dataset, variant)

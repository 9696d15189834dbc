"""BERT fine-tuning end to end on the real path: prepare text as word pieces, the encoder inside
the model, its parameters trained (at their own learning rate) or frozen.

Uses the packaged offline MiniLM (a BERT-architecture model) as the encoder: no download.
"""

from __future__ import annotations

import json

import pytest
import torch

from bpmult import experiment as X
from bpmult.data import registry
from bpmult.data.config import DataConfig
from bpmult.models.text_encoder import ENCODER_PREFIX
from bpmult.train import checkpoint as ckpt



MODEL = {"d_model": 8, "num_heads": 2, "layers": 1, "parallel_len": 4, "parallel_layers": 1,
         "audio_encoder_kernel": 4, "audio_encoder_stride": 4, "audio_encoder_len": 8}


@pytest.fixture(scope="module")
def word_pieces(tmp_path_factory):
    root = tmp_path_factory.mktemp("finetune")
    registry.synthesize("mosei", root / "raw", seed=0, size=24)
    config, _ = registry.resolve_config(root / "raw")
    config = config.replace(text_features="token_ids", mosei_text_len=16)
    registry.prepare("mosei", root / "raw", root / "prepared", config=config, cache_dir=None)
    return root / "prepared"


def _params(mode: str, definition: str = "authors") -> dict:
    return {"profile": "f", "f": {"seeds": [1], "definition": definition, "mosei": {
        "model": {**MODEL, "text_encoder_mode": mode}, "train": {"batch_size": 8, "max_epochs": 1, "lr": 1e-3}}}}


def _encoder_weights(path) -> dict[str, torch.Tensor]:
    state = ckpt.load_checkpoint(path)["model"]
    return {k: v for k, v in state.items() if k.startswith(ENCODER_PREFIX)}


def test_prepared_text_is_word_pieces_and_the_encoder_lives_in_the_model(word_pieces):
    manifest = json.loads((word_pieces / "manifest.json").read_text())
    assert "text_ids" in manifest["modalities"] and "text" not in manifest["modalities"]
    exp = X.plan(word_pieces, "bpmult", params=_params("finetune"))
    assert exp.model.text_encoder and exp.model.orig_d_text == manifest["text_encoder"]["dim"]
    assert exp.train.encoder_lr == 5e-5  # the authors' BERT learning rate


@pytest.mark.parametrize("mode", ["finetune", "frozen"])
def test_finetune_changes_the_encoder_and_frozen_keeps_it(word_pieces, tmp_path, mode):
    exp = X.plan(word_pieces, "bpmult", params=_params(mode))
    initial = {k: v.clone() for k, v in exp.build_model().state_dict().items() if k.startswith(ENCODER_PREFIX)}
    assert initial, "no encoder parameters in the model"
    X.train_experiment(exp, tmp_path / "run", progress=False)
    trained = _encoder_weights(tmp_path / "run" / "seed_1" / "best.pt")
    changed = [k for k in initial if not torch.equal(initial[k], trained[k])]
    if mode == "finetune":
        assert len(changed) > len(initial) // 2, f"only {len(changed)} of {len(initial)} encoder tensors moved"
    else:
        assert changed == []


def test_a_finetuned_run_loads_back_and_evaluates(word_pieces, tmp_path):
    exp = X.plan(word_pieces, "bpmult", params=_params("finetune"))
    X.train_experiment(exp, tmp_path / "run", progress=False)
    trained = X.load_trained(tmp_path / "run")
    assert trained.config.text_encoder == exp.model.text_encoder
    assert DataConfig().text_features == "features"  # the default stays precomputed features

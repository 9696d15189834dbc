"""Text encoders: the packaged MiniLM, offline, and the content-addressed cache."""

from __future__ import annotations

import os

import numpy as np
import pytest

from bpmult.data import MissingFileError, load_prepared, prepare
from bpmult.data.text import describe, encode_texts, load_encoder

from .conftest import FakeEncoder


@pytest.fixture(scope="module")
def minilm():
    assert os.environ.get("HF_HUB_OFFLINE") == "1"  # tests/conftest.py: no network
    return load_encoder("minilm")


def test_minilm_gives_token_states_with_cls_first(minilm):
    texts = ["A haunted village hides a ghost.", "Expect explosion, chase and stunt."]
    out = np.full((2, 16, 384), np.nan, np.float32)
    assert encode_texts(minilm, texts, 16, out) == 2
    for i, text in enumerate(texts):
        n = 1 + len(minilm.tokenizer.tokenize(text))  # [CLS] + word pieces, no [SEP]
        assert np.isfinite(out[i]).all() and np.abs(out[i, :n]).sum(axis=1).min() > 0 and not out[i, n:].any()
    assert not np.allclose(out[0, 0], out[1, 0])
    again = np.zeros_like(out)
    encode_texts(minilm, texts[::-1], 16, again)
    np.testing.assert_allclose(again[::-1], out, atol=1e-5)  # batching does not change a text's states
    short = np.zeros((1, 4, 384), np.float32)
    encode_texts(minilm, texts[:1], 4, short)
    assert np.abs(short[0]).sum(axis=1).min() > 0  # truncated: [CLS] + the first 3 pieces fill all rows
    ids = [minilm.tokenizer.cls_token_id, *minilm.tokenizer(texts[0], add_special_tokens=False)["input_ids"][:3]]
    import torch

    with torch.inference_mode():
        expected = minilm.model(input_ids=torch.tensor([ids])).last_hidden_state[0].numpy()
    np.testing.assert_allclose(short[0], expected, atol=1e-4)
    assert describe(minilm, 16)["first_token_is_cls"] is True and minilm.dim == 384


def test_prepare_with_the_packaged_minilm_and_its_cache(synthetic_raw, tmp_path, minilm, monkeypatch):
    raw = synthetic_raw("mosei", size=6, seed=1)
    manifest = prepare("mosei", raw, tmp_path / "a" / "mosei", encoder=minilm)
    assert manifest["text_encoder"]["name"] == "minilm" and manifest["text_encoder"]["dim"] == 384
    assert manifest["text_encoder"]["first_token_is_cls"] is True
    assert manifest["modalities"]["text"] == [32, 384]
    cache = tmp_path / "a" / ".text_cache"
    assert len(list(cache.rglob("*.npy"))) == 6
    monkeypatch.setattr(type(minilm), "encode", lambda *a: pytest.fail("the cache should answer"))
    prepare("mosei", raw, tmp_path / "a" / "again", encoder=minilm)
    first = load_prepared(tmp_path / "a" / "mosei", "train")
    second = load_prepared(tmp_path / "a" / "again", "train")
    np.testing.assert_array_equal(np.asarray(first.arrays["text"]), np.asarray(second.arrays["text"]))


def test_cache_is_addressed_by_encoder_length_and_text(tmp_path):
    encoder = FakeEncoder()
    texts = ["one two three", "four five", "one two three"]
    out = np.zeros((3, 5, 8), np.float32)
    assert encode_texts(encoder, texts, 5, out, tmp_path) == 2  # the repeated text once
    assert encode_texts(encoder, texts, 5, np.zeros_like(out), tmp_path) == 0
    assert encode_texts(encoder, texts, 3, np.zeros((3, 3, 8), np.float32), tmp_path) == 2  # another length
    other = FakeEncoder()
    other.cache_id = "fake-encoder-v2"
    assert encode_texts(other, texts, 5, np.zeros_like(out), tmp_path) == 2  # another encoder
    for path in (tmp_path / "fake-encoder-v1").rglob("*.npy"):
        path.write_bytes(b"damaged")
    again = np.zeros_like(out)
    assert encode_texts(encoder, texts, 5, again, tmp_path) == 2  # damaged entries are recomputed
    np.testing.assert_array_equal(again, out)
    assert not out[1, 3:].any() and out[0, :4].any()  # "[CLS] one two three" then zero padding


def test_bert_needs_the_hugging_face_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-home"))
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(MissingFileError, match="bpmult fetch bert-base-uncased"):
        load_encoder("bert-base-uncased")

"""Fixtures of the data-layer tests: a fast fake text encoder and synthetic raw sets made on the fly.

Nothing here touches the network or /work/shared; every raw file is written by the package's own
synthetic generator (the real upstream formats) or by hand in the test.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from bpmult.data import prepare, synthesize


class FakeEncoder:
    """A deterministic stand-in for MiniLM: one 8-d vector per word, a fixed [CLS] row first."""

    name = "fake"
    dim = 8
    first_token_is_cls = True
    cache_id = "fake-encoder-v1"

    def __init__(self) -> None:
        self.encoded: list[str] = []

    @staticmethod
    def vector(token: str) -> np.ndarray:
        return np.frombuffer(hashlib.sha256(token.encode()).digest()[:8], np.uint8).astype(np.float32) / 255.0

    def encode(self, texts, max_tokens):
        self.encoded.extend(texts)
        return [np.stack([self.vector(t) for t in ["[CLS]", *text.lower().split()]])[:max_tokens] for text in texts]


@pytest.fixture
def fake_encoder() -> FakeEncoder:
    return FakeEncoder()


RAW_NAME = {"moviescope": "moviescope", "mmimdb": "mmimdb", "iemocap_aligned": "iemocap",
            "iemocap_unaligned": "iemocap", "mosei": "mosei"}
_CACHE: dict[tuple[str, int, int], Path] = {}


@pytest.fixture(scope="session")
def synthetic_raw(tmp_path_factory):
    """``synthetic_raw(name, size=12, seed=0)`` -> a read-only synthetic raw folder (made once per session)."""

    def make(name: str, size: int = 12, seed: int = 0) -> Path:
        key = (RAW_NAME.get(name, name), size, seed)
        if key not in _CACHE:
            out = tmp_path_factory.mktemp("raw") / key[0]
            synthesize(key[0], out, seed=seed, size=size)
            _CACHE[key] = out
        return _CACHE[key]

    return make


@pytest.fixture
def raw_copy(synthetic_raw, tmp_path):
    """``raw_copy(name, size=12)`` -> a private, writable copy of a synthetic raw folder (to corrupt)."""

    def make(name: str, size: int = 12) -> Path:
        out = tmp_path / f"raw_{RAW_NAME[name]}"
        shutil.copytree(synthetic_raw(name, size), out)
        return out

    return make


@pytest.fixture
def prepare_fake(fake_encoder, tmp_path):
    """``prepare_fake(name, raw)`` -> (out folder, manifest) prepared with the fake encoder, no cache."""

    def run(name: str, raw: Path, **kwargs):
        out = tmp_path / "prepared" / name
        manifest = prepare(name, raw, out, encoder=fake_encoder, cache_dir=None, **kwargs)
        return out, manifest

    return run

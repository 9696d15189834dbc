"""``DataConfig``: every knob of ``bpmult prepare``, with the upstream value as default.

A run records the resolved config in ``manifest.json``. The synthetic raw sets written by
``bpmult synth`` carry their own, shorter lengths in ``SYNTHETIC.json`` (see ``synthetic.py``);
``prepare`` starts from those when it finds that marker, and ``--set key=value`` overrides either.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Iterable

TEXT_ENCODERS = ("minilm", "bert-base-uncased")
_TYPES = {"int": (int,), "int | None": (int, type(None)), "bool": (bool,), "str": (str,)}


@dataclass(frozen=True)
class DataConfig:
    """Lengths, vocabularies and switches of the prepare step.

    Sequences are zero padded at the end, or truncated, to the lengths below; ``None`` keeps the
    length found in the data (the longest one, so shorter items are padded).

    Attributes:
        text_encoder: ``"minilm"`` (packaged all-MiniLM-L6-v2, offline, 384-d; default) or
            ``"bert-base-uncased"`` (the paper's encoder, 768-d, from the Hugging Face cache).
        text_batch_size: texts per encoder forward pass.
        moviescope_text_len: word pieces per plot incl. the leading [CLS] (BPMuLT ``--max_seq_len 512``).
        moviescope_frames: VGG16 frames per trailer (``200F_VGG16`` stores 200).
        moviescope_mel_steps: mel-spectrogram steps, stored time-major (the audio encoder needs >= 382).
        moviescope_metadata: add the 312-d ``metadata`` vector when ``Metadata_matrices/`` is present
            (the TVAPM setting of Table 2).
        moviescope_demo_train, moviescope_demo_dev: cut points of the authors' demo subset
            (``train.jsonl`` rows [:300] train, [300:400] dev, [400:] test, as their notebook does).
        mmimdb_text_len: word pieces of the longest plot incl. [CLS].
        mmimdb_glove_file: GloVe vectors file in the raw folder (from ``glove.6B.zip``).
        mmimdb_glove_len: GloVe vectors per plot (the ``video`` sequence); out-of-vocabulary words skipped.
        mmimdb_bow_vocab: words of the bag-of-words ``audio`` sequence (paper §7.5: "the ten thousand
            most frequent words used in the training set"); the sequence has exactly this length.
        mosei_text_len: word pieces per utterance incl. [CLS] (covers MOSEI's longest utterances).
        mosei_allow_unmatched: drop, and count in the manifest, ids of Dai's split files that have no
            MuLT features or timing, instead of failing.
    """

    text_encoder: str = "minilm"
    text_batch_size: int = 16
    moviescope_text_len: int = 512
    moviescope_frames: int = 200
    moviescope_mel_steps: int | None = None
    moviescope_metadata: bool = True
    moviescope_demo_train: int = 300
    moviescope_demo_dev: int = 400
    mmimdb_text_len: int = 512
    mmimdb_glove_file: str = "glove.6B.300d.txt"
    mmimdb_glove_len: int = 512
    mmimdb_bow_vocab: int = 10000
    mosei_text_len: int = 128
    mosei_allow_unmatched: bool = False

    def __post_init__(self) -> None:
        if self.text_encoder not in TEXT_ENCODERS:
            raise ValueError(f"DataConfig.text_encoder: expected one of {TEXT_ENCODERS}, found {self.text_encoder!r}")
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            allowed = _TYPES[str(field.type)]
            if type(value) not in allowed:  # noqa: E721 (bool must not pass as int)
                raise ValueError(f"DataConfig.{field.name}: expected {field.type}, found {value!r}")
            if type(value) is int and value < 1:
                raise ValueError(f"DataConfig.{field.name}: expected a positive integer, found {value}")
        if self.moviescope_demo_dev <= self.moviescope_demo_train:
            raise ValueError(f"DataConfig.moviescope_demo_dev: expected > moviescope_demo_train "
                             f"({self.moviescope_demo_train}), found {self.moviescope_demo_dev}")

    def replace(self, **changes: Any) -> "DataConfig":
        return dataclasses.replace(self, **changes)

    def with_overrides(self, assignments: Iterable[str]) -> "DataConfig":
        """Apply ``key=value`` strings; values are JSON (``128``, ``true``, ``null``) or plain text."""
        names = {field.name for field in dataclasses.fields(self)}
        changes: dict[str, Any] = {}
        for assignment in assignments:
            key, sep, raw = assignment.partition("=")
            key = key.strip().replace("-", "_")
            if not sep or key not in names:
                raise ValueError(f"--set {assignment!r}: expected KEY=VALUE with KEY one of {sorted(names)}")
            try:
                value = json.loads(raw)
            except json.JSONDecodeError:
                value = raw
            default = getattr(self, key)
            if isinstance(default, str) and not isinstance(value, str):
                value = raw
            changes[key] = value
        return self.replace(**changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

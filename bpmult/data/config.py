"""``DataConfig``: every knob of ``bpmult prepare``, with the upstream value as default.

A run records the resolved config in ``manifest.json``. The synthetic raw sets written by
``bpmult synth`` carry their own, shorter lengths in ``SYNTHETIC.json`` (see ``synthetic.py``);
``prepare`` starts from those when it finds that marker, and ``--set key=value`` overrides either.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

TEXT_ENCODERS = ("minilm", "bert-base-uncased")
TEXT_FEATURES = ("features", "token_ids")
AUDIO_CROPS = ("batch_shortest", "pad_longest")
_TYPES = {"int": (int,), "int | None": (int, type(None)), "bool": (bool,), "str": (str,), "float": (float, int)}
_CHOICES = {"text_encoder": TEXT_ENCODERS, "text_features": TEXT_FEATURES, "moviescope_audio_crop": AUDIO_CROPS}
# keys of a profile's ``data`` section that belong to the raw stage, not to prepare
STAGE_KEYS = ("source", "synthetic", "synth_size", "synth_seed", "raw_folder")


@dataclass(frozen=True)
class DataConfig:
    """Lengths, vocabularies and switches of the prepare step.

    Sequences are zero padded at the end, or truncated, to the lengths below; ``None`` keeps the
    length found in the data (the longest one, so shorter items are padded).

    Attributes:
        text_encoder: ``"minilm"`` (packaged all-MiniLM-L6-v2, offline, 384-d; default) or
            ``"bert-base-uncased"`` (the paper's encoder, 768-d, from the Hugging Face cache).
        text_batch_size: texts per encoder forward pass.
        text_features: ``"features"`` (default): the encoder's token states, ``text`` (N, L, dim);
            ``"token_ids"``: the encoder's word-piece ids and mask, ``text_ids`` and ``text_mask``
            (N, L) int64, for fine-tuning the encoder inside the model (issue 10). IEMOCAP's text
            is GloVe from the MuLT pickle and is never re-tokenized.
        moviescope_text_len: word pieces per plot incl. the leading [CLS] (BPMuLT ``--max_seq_len 512``).
        moviescope_frames: VGG16 frames per trailer (``200F_VGG16`` stores 200).
        moviescope_mel_steps: mel-spectrogram steps, stored time-major (the audio encoder needs >= 382);
            ``None`` pads to the longest trailer; the true length is stored as ``audio_length``.
        moviescope_audio_crop: how batches of spectrograms are formed (``bpmult.data.make_collate``):
            ``"batch_shortest"`` (default; the BPMuLT authors' loader) crops each batch to its
            shortest trailer; ``"pad_longest"`` keeps the zero padding to the longest trailer.
        moviescope_metadata: add the 312-d ``metadata`` vector when ``Metadata_matrices/`` is present
            (the TVAPM setting of Table 2).
        moviescope_demo_train, moviescope_demo_dev: cut points of the authors' demo subset
            (``train.jsonl`` rows [:300] train, [300:400] dev, [400:] test, as their notebook does).
        mmimdb_text_len: word pieces of the longest plot incl. [CLS].
        mmimdb_glove_file: GloVe vectors file in the raw folder (from ``glove.6B.zip``).
        mmimdb_glove_len: GloVe vectors per plot (the ``video`` sequence); out-of-vocabulary words skipped.
        mmimdb_min_glove_coverage: the least share of the plots' words that must have a GloVe vector
            (real glove.6B covers about 0.95 of MM-IMDb's plot words); below it prepare refuses,
            since a wrong or empty GloVe file would give an all-zero ``video`` input.
        mmimdb_bow_vocab: words of the bag-of-words ``audio`` sequence, which has exactly this length
            (one step per word). 512 (default): the authors' code (``num_vectors_a = 512``), about
            1/8 of the compute and memory; 10000: the paper's literal reading (§7.5, "the ten
            thousand most frequent words used in the training set"), about 160 GB of fp32
            activations for BPMuLT at batch 6.
        mosei_text_len: word pieces per utterance incl. [CLS] (covers MOSEI's longest utterances).
        mosei_allow_unmatched: drop, and count in the manifest, ids of Dai's split files that have no
            MuLT features or timing, instead of failing.
    """

    text_encoder: str = "minilm"
    text_batch_size: int = 16
    text_features: str = "features"
    moviescope_text_len: int = 512
    moviescope_frames: int = 200
    moviescope_mel_steps: int | None = None
    moviescope_audio_crop: str = "batch_shortest"
    moviescope_metadata: bool = True
    moviescope_demo_train: int = 300
    moviescope_demo_dev: int = 400
    mmimdb_text_len: int = 512
    mmimdb_glove_file: str = "glove.6B.300d.txt"
    mmimdb_glove_len: int = 512
    mmimdb_min_glove_coverage: float = 0.5
    mmimdb_bow_vocab: int = 512
    mosei_text_len: int = 128
    mosei_allow_unmatched: bool = False

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            problem = _problem(field, getattr(self, field.name))
            if problem:
                raise ValueError(f"DataConfig.{field.name}: {problem}")
            if str(field.type) == "float":  # 1 and 1.0 must record alike in the manifest
                object.__setattr__(self, field.name, float(getattr(self, field.name)))
        if self.moviescope_demo_dev <= self.moviescope_demo_train:
            raise ValueError(f"DataConfig.moviescope_demo_dev: expected > moviescope_demo_train "
                             f"({self.moviescope_demo_train}), found {self.moviescope_demo_dev}")

    @classmethod
    def from_mapping(cls, mapping: Any, where: str = "data", *, base: "DataConfig | None" = None,
                     ignore: Iterable[str] = STAGE_KEYS) -> "DataConfig":
        """``base`` (default: the defaults) with the fields in ``mapping`` (a profile's ``data``
        section); every error names the params path, e.g. ``paper.data.mosei_allow_unmatched:
        expected bool, found 'yes'``. Keys in ``ignore`` (the raw stage's) are skipped."""
        if not isinstance(mapping, Mapping):
            raise ValueError(f"{where}: expected a mapping of data settings, found {type(mapping).__name__}")
        fields = {field.name: field for field in dataclasses.fields(cls)}
        skip = set(ignore)
        changes: dict[str, Any] = {}
        for key, value in mapping.items():
            if key in skip:
                continue
            if key not in fields:
                raise ValueError(f"{where}.{key}: unknown data setting; expected one of {sorted(fields)}")
            problem = _problem(fields[key], value)
            if problem:
                raise ValueError(f"{where}.{key}: {problem}")
            changes[key] = float(value) if str(fields[key].type) == "float" else value
        try:
            return (base or cls()).replace(**changes)
        except ValueError as err:
            raise ValueError(f"{where}.{str(err).removeprefix('DataConfig.')}") from None

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


def _problem(field: dataclasses.Field, value: Any) -> str | None:
    """What is wrong with ``value`` for ``field``, or None."""
    kind = str(field.type)
    if type(value) not in _TYPES[kind]:  # noqa: E721 (bool must not pass as int)
        return f"expected {kind}, found {value!r}"
    if type(value) is int and kind != "float" and value < 1:
        return f"expected a positive integer, found {value}"
    if kind == "float" and not 0.0 <= float(value) <= 1.0:
        return f"expected a share between 0 and 1, found {value}"
    if field.name in _CHOICES and value not in _CHOICES[field.name]:
        return f"expected one of {_CHOICES[field.name]}, found {value!r}"
    return None

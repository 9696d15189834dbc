"""The real data's shapes for ``bpmult plan``: per dataset, what training reads from the manifest
(widths and lengths of a batch), the split sizes and the per-sample prepared arrays, from the
package's facts (:mod:`bpmult.data.facts`) and the profile's data settings; no file is read."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from bpmult.data.config import DataConfig
from bpmult.data.facts import facts
from bpmult.plan_facts import MOVIESCOPE_BATCH_MEL_STEPS, MOVIESCOPE_MOVIES, MOVIESCOPE_STORED_MEL_STEPS
from bpmult.plan_meta import encoder_config

# widths of the upstream features (each dataset module's constants: VGG16 4096, GloVe 300, 96 mel
# bins, MuLT's COVAREP 74 and FACET 35, Moviescope's 312-d metadata)
WIDTHS = {
    "moviescope": {"video": 4096, "audio": 96, "poster": 4096, "metadata": 312},
    "mmimdb": {"video": 300, "audio": 1, "poster": 4096},
    "iemocap_aligned": {"text": 300, "video": 35, "audio": 74},
    "iemocap_unaligned": {"text": 300, "video": 35, "audio": 74},
    "mosei": {"video": 35, "audio": 74},
}
TEXT_LENGTH_SETTING = {"moviescope": "moviescope_text_len", "mmimdb": "mmimdb_text_len", "mosei": "mosei_text_len"}


def _text_encoder_record(data: DataConfig, dataset: str) -> dict[str, Any]:
    """The manifest's ``text_encoder`` record prepare would write (IEMOCAP: MuLT's GloVe)."""
    if dataset.startswith("iemocap"):
        return {"name": "glove-300d", "dim": 300, "first_token_is_cls": False}
    return {"name": data.text_encoder, "dim": int(encoder_config(data.text_encoder).hidden_size),
            "first_token_is_cls": True}


@dataclass(frozen=True)
class DataShape:
    """One dataset as the real data gives it.

    Attributes:
        manifest: what training reads from ``manifest.json`` (widths and lengths of a batch).
        splits: train/dev/test samples (None: not known).
        stored: per-sample prepared arrays, name -> (shape, bytes per element).
        notes: the assumptions behind the numbers.
    """

    manifest: dict[str, Any]
    splits: dict[str, int | None]
    stored: dict[str, tuple[tuple[int, ...], int]]
    notes: tuple[str, ...] = ()


def data_shape(dataset: str, data: DataConfig) -> DataShape:
    """The real data's shapes under ``data`` (:class:`DataConfig`), from the package's facts."""
    fact = facts(dataset)
    width = WIDTHS[dataset]
    lengths = dict(fact.upstream_lengths)
    notes = []
    token_ids = data.text_features == "token_ids" and not dataset.startswith("iemocap")
    text_len = getattr(data, TEXT_LENGTH_SETTING[dataset]) if dataset in TEXT_LENGTH_SETTING else lengths["text"]
    encoder = _text_encoder_record(data, dataset)
    inputs: dict[str, list[int]] = ({"text_ids": [text_len], "text_mask": [text_len]} if token_ids
                                    else {"text": [text_len, encoder["dim"]]})
    stored: dict[str, tuple[tuple[int, ...], int]] = (
        {"text_ids": ((text_len,), 8), "text_mask": ((text_len,), 8)} if token_ids
        else {"text": ((text_len, encoder["dim"]), 4)})
    if dataset == "moviescope":
        inputs.update(video=[data.moviescope_frames, width["video"]], audio=[MOVIESCOPE_BATCH_MEL_STEPS, width["audio"]])
        stored_mel = data.moviescope_mel_steps or MOVIESCOPE_STORED_MEL_STEPS
        stored.update(video=((data.moviescope_frames, width["video"]), 4), audio=((stored_mel, width["audio"]), 4),
                      audio_length=((), 8))
        notes.append(f"moviescope: batches of {MOVIESCOPE_BATCH_MEL_STEPS} mel steps (batch_shortest crop), "
                     f"stored padded to {stored_mel}; train+dev = {MOVIESCOPE_MOVIES} movies - 987 test, all counted "
                     "as training (the split sizes are not in the package's facts)")
    elif dataset == "mmimdb":
        inputs.update(video=[data.mmimdb_glove_len, width["video"]], audio=[data.mmimdb_bow_vocab, width["audio"]])
        stored.update(video=((data.mmimdb_glove_len, width["video"]), 4), audio=((data.mmimdb_bow_vocab, 1), 4))
    else:
        for m in ("video", "audio") if dataset == "mosei" else ("text", "video", "audio"):
            if m != "text":
                inputs[m] = [lengths[m], width[m]]
            stored[m] = ((lengths[m], width[m]), 4)
    extras = [m for m in ("poster", "metadata") if m in width and (m != "metadata" or data.moviescope_metadata)]
    for m in extras:
        inputs[m] = [width[m]]
        stored[m] = ((width[m],), 4)
    stored["label"] = ((len(fact.label_names),), 8 if fact.task == "iemocap" else 4)
    sizes = dict(zip(("train", "dev", "test"), fact.upstream_sizes))
    if dataset == "moviescope" and sizes["train"] is None:
        sizes = {"train": MOVIESCOPE_MOVIES - (sizes["test"] or 0), "dev": 0, "test": sizes["test"]}
    manifest = {"dataset": dataset, "task": fact.task, "label_names": list(fact.label_names), "modalities": inputs,
                "text_encoder": encoder}
    return DataShape(manifest=manifest, splits=sizes, stored=stored, notes=tuple(notes))


def prepared_bytes(shape: DataShape) -> int | None:
    """Bytes of the prepared arrays (all splits): samples × per-sample bytes; None when a split is unknown."""
    if any(n is None for n in shape.splits.values()):
        return None
    per_sample = sum(math.prod(dims) * size for dims, size in shape.stored.values())
    return per_sample * sum(shape.splits.values())

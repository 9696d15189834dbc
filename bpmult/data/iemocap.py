"""IEMOCAP as processed by MuLT (Tsai et al. 2019): four binary emotion tasks.

Raw files (research/datasets.md §3), as downloaded:

```
iemocap_data.pkl           aligned:   {'train'|'valid'|'test': {'text': (n, 20, 300), 'audio': (n, 20, 74),
                                        'vision': (n, 20, 35), 'labels': (n, 4, 2)}}
iemocap_data_noalign.pkl   unaligned: the same keys; audio (n, 400, 74), vision (n, 500, 35)
```
No ids are stored (rows are named ``<split>/<row>``). ``text`` is GloVe (given), ``audio``
COVAREP, ``vision`` FACET; sequences are already zero padded at the front and are kept as stored.
As in MuLT's loader, ``-inf`` in the audio becomes 0; any other non-finite value is an error.
Labels: per emotion a one-hot ``[negative, positive]`` pair; the prepared ``label`` is its argmax,
int64 (N, 4), emotions in MuLT's order neutral, happy, sad, angry.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, Callable

import numpy as np

from bpmult.data.checks import check_finite, numeric_array, require_key
from bpmult.data.config import DataConfig
from bpmult.data.errors import LabelError, ShapeError
from bpmult.data.facts import FACTS
from bpmult.data.source import Source
from bpmult.data.prepared import PreparedWriter, Sources
from bpmult.data.safe_pickle import safe_load
from bpmult.data.synthetic import event_window, label_directions, left_pad, split_names, word_vector
from bpmult.data.text import TextEncoder

LABELS = FACTS["iemocap_aligned"].label_names
FILES = {True: "iemocap_data.pkl", False: "iemocap_data_noalign.pkl"}
SPLIT_KEYS = {"train": "train", "dev": "valid", "test": "test"}
WIDTHS = {"text": 300, "audio": 74, "vision": 35}
MODALITY_OF = {"text": "text", "audio": "audio", "vision": "video"}  # pickle key -> prepared modality
SYNTH_NAME = "iemocap"
_CMU = "http://immortal.multicomp.cs.cmu.edu/raw_datasets/processed_data/iemocap/seq_length_50/"
# the aligned file sits under seq_length_50 although its sequences have 20 steps (CMU-MultimodalSDK issue #302)
FETCH = {"iemocap": (
    Source("iemocap_data.pkl", (_CMU + "iemocap_data.pkl",),
           "MuLT's processed IEMOCAP, aligned (CMU MultiComp server; also in MuLT's Dropbox Archive.zip)"),
    Source("iemocap_data_noalign.pkl", (_CMU + "iemocap_data_noalign.pkl",
                                        "https://www.dropbox.com/s/cgbb3hh9bn7a6gb/iemocap_data_noalign.pkl?dl=1"),
           "MuLT's processed IEMOCAP, unaligned (CMU MultiComp server; MTAG's Dropbox mirror)"),
)}


def read_mult_split(path: Path, data: Any, key: str, widths: dict[str, int],
                    label_shape: tuple) -> tuple[dict[str, np.ndarray], int]:
    """The arrays of one split of a MuLT pickle, checked: equal row counts, widths, finite values
    (``-inf`` in audio set to 0 as MuLT does); also how many ``-inf`` were replaced. Also used for
    CMU-MOSEI's MuLT pickle."""
    part = require_key(data, key, path, "a split dict with 'text', 'audio', 'vision', 'labels'")
    arrays: dict[str, np.ndarray] = {}
    for name, width in widths.items():
        arrays[name] = numeric_array(require_key(part, name, path, f"an array (n, T, {width})", f"{key}/{name}"),
                                     path, f"{key}/{name}", (None, None, width))
    labels = require_key(part, "labels", path, "an array of labels (n, ...)", f"{key}/labels")
    arrays["labels"] = numeric_array(labels, path, f"{key}/labels", (None, *label_shape))
    counts = {name: len(array) for name, array in arrays.items()}
    if len(set(counts.values())) != 1:
        raise ShapeError(path, key=key, expected="the same number of rows in every array", found=str(counts))
    replaced = check_finite(arrays["audio"], path, f"{key}/audio", neg_inf_to_zero=True)
    for name in (*(n for n in widths if n != "audio"), "labels"):
        check_finite(arrays[name], path, f"{key}/{name}")
    return arrays, replaced


def _binary_labels(labels: np.ndarray, path: Path, key: str) -> np.ndarray:
    one_hot = np.isin(labels, (0.0, 1.0)).all(axis=-1) & (labels.sum(axis=-1) == 1.0)
    if not one_hot.all():
        row, emotion = (int(i) for i in np.argwhere(~one_hot)[0])
        raise LabelError(path, key=f"{key}/labels[{row}, {emotion}]",
                         expected="a one-hot [negative, positive] pair", found=str(labels[row, emotion].tolist()))
    return labels.argmax(axis=-1).astype(np.int64)


def prepare(raw: str | Path, out: str | Path, *, config: DataConfig, encoder: Callable[[], TextEncoder],
            cache_dir: str | Path | None, synthetic: dict | None, aligned: bool) -> dict[str, Any]:
    """Write the prepared IEMOCAP folder (aligned or unaligned pickle); returns the manifest."""
    raw = Path(raw)
    path = raw / FILES[aligned]
    data = safe_load(path, "MuLT IEMOCAP pickle", hint="`bpmult fetch iemocap` downloads it")
    sources = Sources(raw)
    sources.add(path)
    splits, replaced = {}, {}
    for split, key in SPLIT_KEYS.items():
        splits[split], replaced[split] = read_mult_split(path, data, key, WIDTHS, (len(LABELS), 2))
    del data
    name = "iemocap_aligned" if aligned else "iemocap_unaligned"
    with PreparedWriter.of(out, name) as writer:
        for split, arrays in splits.items():
            n = len(arrays["labels"])
            shapes = {MODALITY_OF[k]: arrays[k].shape[1:] for k in WIDTHS}
            target = writer.add_split(split, [f"{SPLIT_KEYS[split]}/{row}" for row in range(n)], shapes,
                                      (len(LABELS),), np.int64, source=f"{path} [{SPLIT_KEYS[split]!r}]")
            for key, modality in MODALITY_OF.items():
                target[modality][:] = arrays[key]
            target["label"][:] = _binary_labels(arrays["labels"], path, f"{SPLIT_KEYS[split]}")
        return writer.write_manifest(
            text_encoder={"name": "glove-300d", "first_token_is_cls": False,
                          "note": "GloVe word vectors as stored in the MuLT pickle (not re-encoded)"},
            sources=sources.as_dict(), synthetic=synthetic or False, config=config.to_dict(),
            notes={"aligned": aligned, "video": "FACET (pickle key 'vision')", "audio": "COVAREP",
                   "neg_inf_in_audio_set_to_zero": replaced, "ids": "<pickle split>/<row>: the pickle stores none",
                   "label": "argmax of the one-hot [negative, positive] pair per emotion"})


# ---------------------------------------------------------------------------------------------
# synthetic raw data

VALENCE_SCALE = 1.5  # how far the two valence word clusters sit apart, in word-vector norms
VALENCE_WORDS = {"non-negative": ("okay", "fine", "great", "thanks", "sure"),
                 "negative": ("terrible", "awful", "wrong", "horrible", "ridiculous")}
_FILLER = ("i", "you", "we", "it", "the", "a", "that", "is", "was", "just", "so", "really", "know", "think",
           "said", "about", "going", "there", "now", "this", "what", "do", "not", "yeah")
# emotion -> (valence, high arousal): valence is in the words, arousal in voice and face; each
# emotion is one of the four combinations, so neither the words nor the voice alone name it
EMOTION_CUES = {"neutral": ("non-negative", False), "happy": ("non-negative", True), "sad": ("negative", False),
                "angry": ("negative", True)}


def write_synthetic(out: Path, rng: np.random.Generator, size: int) -> dict[str, Any]:
    """Both MuLT IEMOCAP pickles (same utterances): the emotion is a valence cue in the words
    combined with an arousal cue in audio and vision; ``-inf`` appears in some audio dimensions."""
    lengths = {True: {"text": 20, "audio": 20, "vision": 20}, False: {"text": 20, "audio": 40, "vision": 50}}
    emotion = rng.choice(len(LABELS), size=size, p=[0.3, 0.3, 0.2, 0.2])
    directions = label_directions(VALENCE_WORDS, scale=VALENCE_SCALE)
    split_of = split_names(rng, size)
    utterances = []
    for e in emotion:
        valence, aroused = EMOTION_CUES[LABELS[e]]
        if rng.random() < 0.05:  # annotation noise: a cue that disagrees with the label
            valence = str(rng.choice(list(VALENCE_WORDS)))
        if rng.random() < 0.05:
            aroused = not aroused
        n_words = int(rng.integers(8, 21))
        tokens = list(rng.choice(_FILLER, size=n_words))
        for position in rng.choice(n_words, size=3, replace=False):
            tokens[position] = str(rng.choice(VALENCE_WORDS[valence]))
        utterances.append((tokens, aroused))
    for aligned, length in lengths.items():
        data: dict[str, dict[str, list]] = {key: {"text": [], "audio": [], "vision": [], "labels": []}
                                            for key in SPLIT_KEYS.values()}
        for i, (tokens, aroused) in enumerate(utterances):
            n_words = len(tokens)
            steps = {k: n_words if aligned else int(round(n_words * length[k] / 20)) for k in ("audio", "vision")}
            text = np.stack([word_vector(w, 300, directions) for w in tokens])
            audio = rng.normal(0.0, 0.3, (steps["audio"], 74)).astype(np.float32)
            vision = rng.normal(0.0, 0.3, (steps["vision"], 35)).astype(np.float32)
            if aroused:
                # an aroused voice and face throughout most of the utterance
                audio[event_window(rng, steps["audio"], max(3, 3 * steps["audio"] // 4)), :8] += 1.5
                vision[event_window(rng, steps["vision"], max(3, 3 * steps["vision"] // 4)), :5] += 1.5
            silent = rng.random(steps["audio"]) < 0.1  # COVAREP's log features are -inf on silent frames
            audio[silent, 36:40] = -np.inf
            labels = np.zeros((len(LABELS), 2), dtype=np.float32)
            labels[:, 0] = 1.0
            labels[emotion[i]] = (0.0, 1.0)
            split = data[SPLIT_KEYS[split_of[i]]]
            split["text"].append(left_pad(text, length["text"]))
            split["audio"].append(left_pad(audio, length["audio"]))
            split["vision"].append(left_pad(vision, length["vision"]))
            split["labels"].append(labels)
        arrays = {key: {name: np.stack(values).astype(np.float32) for name, values in split.items()}
                  for key, split in data.items()}
        with open(out / FILES[aligned], "wb") as handle:
            pickle.dump(arrays, handle, protocol=4)
    return {"reductions": {"iemocap_data_noalign.pkl": "audio 40 and vision 50 steps (real: about 400 and 500)",
                           "utterances": f"{size} in all (real: 2717/798/938)"},
            "data_config": {}}

"""CMU-MOSEI emotions: MuLT's unaligned features joined with Dai et al.'s text, labels and split.

Raw layout read by ``prepare`` (research/datasets.md §4):

```
mosei_senti_data_noalign.pkl              MuLT: {'train'|'valid'|'test': {'vision': (n, 500, 35),
                                          'audio': (n, 500, 74), 'text', 'labels', 'id': (n, 3) str}}
MOSEI_RAW_PROCESSED/meta.pkl              Dai: {'<video>_<clip>': {'text': str, 'label': [6 x 0/1]}}
MOSEI_SPLIT/{train,valid,test}_split.txt  Dai: one '<video>_<clip>' per line
Raw/Transcript/Segmented/Combined/<video>.txt   CMU-MOSEI: '<video>___<clip>___<start>___<end>___<text>'
```
The two versions share no key: MuLT names a row by ``(video, start, end)``, Dai by
``<video>_<clip>``, and Dai's ``meta.pkl`` holds no times (its notebook keeps only text and
label). The CMU-MOSEI transcripts give each clip's start and end — the times MuLT's ids carry —
so a Dai id is matched to the MuLT row with the same video and the same start/end (to the
millisecond). Dai's split files decide the split (MuLT's own split is ignored); a Dai id without
a matching row is an error unless ``mosei_allow_unmatched`` (then it is dropped and counted).

Prepared modalities: ``text`` (encoder states of Dai's utterance text), ``video`` (FACET 35),
``audio`` (COVAREP 74; ``-inf`` set to 0 as in MuLT). Labels: 6 emotions, multi-hot, in the
order anger, disgust, fear, happy, sad, surprise (Dai's annotation order).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, Callable

import numpy as np

from bpmult.data.checks import decode_text, fit_length, require_key
from bpmult.data.config import DataConfig
from bpmult.data.errors import DataError, LabelError, MissingFileError, ShapeError, UnknownIdError
from bpmult.data.facts import FACTS
from bpmult.data.source import Source
from bpmult.data.iemocap import read_mult_split
from bpmult.data.prepared import PreparedWriter, Sources
from bpmult.data.safe_pickle import safe_load
from bpmult.data.synthetic import EMOTION_WORDS, cooccurring_events, event_window, label_directions, left_pad, \
    sparse_patterns, split_names, utterance, word_vector
from bpmult.data.text import TextEncoder, describe, fill_text, text_shapes

LABELS = FACTS["mosei"].label_names
FEATURES = "mosei_senti_data_noalign.pkl"
META = "MOSEI_RAW_PROCESSED/meta.pkl"
SPLIT_FILES = {"train": "MOSEI_SPLIT/train_split.txt", "dev": "MOSEI_SPLIT/valid_split.txt",
               "test": "MOSEI_SPLIT/test_split.txt"}
TRANSCRIPT_DIRS = ("Raw/Transcript/Segmented/Combined", "Transcript/Segmented/Combined")
WIDTHS = {"vision": 35, "audio": 74}
SYNTH_NAME = "mosei"
_DAI = ("https://raw.githubusercontent.com/wenliangdai/Multimodal-End2end-Sparse/"
        "d9c54550d75bb624da934f120823ddf149910050/data%20split/MOSEI_split/")
_DAI_BUNDLE = ("https://hkustconnect-my.sharepoint.com/:u:/g/personal/wdaiai_connect_ust_hk/"
               "EbEzVnCduqVNuT_LvuRApVQBagraPx7nGqIEHgdnGPjN7g?e=zeMtct")
FETCH = {"mosei": (
    Source(FEATURES, ("http://immortal.multicomp.cs.cmu.edu/raw_datasets/processed_data/cmu-mosei/seq_length_50/"
                      + FEATURES,), "MuLT's processed CMU-MOSEI, unaligned (~12 GB, CMU MultiComp server)"),
    *(Source(path, (_DAI + Path(path).name,), "Dai et al.'s split (GitHub, pinned commit)")
      for path in SPLIT_FILES.values()),
    Source(META, (), f"Dai et al.'s processed data (OneDrive, folder MOSEI_RAW_PROCESSED): {_DAI_BUNDLE}"),
    Source(TRANSCRIPT_DIRS[0], (), "the CMU-MOSEI raw release "
           "http://immortal.multicomp.cs.cmu.edu/raw_datasets/CMU_MOSEI.zip (its Raw/Transcript/Segmented/Combined)",
           kind="dir"),
)}


def _time_key(video: str, start: Any, end: Any) -> tuple[str, float, float]:
    return video, round(float(start), 3), round(float(end), 3)


def _text(value: Any, path: Path | str = "<MuLT id>", key: str | None = None) -> str:
    return decode_text(value, path, key) if isinstance(value, bytes) else str(value)


def _transcripts(raw: Path) -> Path:
    for candidate in TRANSCRIPT_DIRS:
        if (raw / candidate).is_dir():
            return raw / candidate
    raise MissingFileError(raw / TRANSCRIPT_DIRS[0], "CMU-MOSEI transcripts (<video>.txt with clip start/end times)",
                           hint="unpack Raw/Transcript/Segmented/Combined from CMU_MOSEI.zip into the raw folder "
                                "(by hand: data/manual/mosei/)")


def _clip_times(folder: Path, video: str, sources: Sources, cache: dict) -> dict[str, tuple]:
    """Clip number -> (video, start, end) of one video's transcript (empty when it has none).

    Lines are read after the known ``<video>___`` prefix: video ids may themselves contain or end
    with underscores, so splitting the whole line on ``___`` would be ambiguous.
    """
    if video not in cache:
        path = folder / f"{video}.txt"
        times: dict[str, tuple] = {}
        if path.is_file():
            text = sources.read_bytes(path, folder.relative_to(sources.root).as_posix()).decode("utf-8", "replace")
            for number, line in enumerate(text.splitlines(), start=1):
                if not line.strip():
                    continue
                fields = line[len(video) + 3:].split("___", 3) if line.startswith(video + "___") else []
                try:
                    times[fields[0]] = _time_key(video, fields[1], fields[2])
                except (IndexError, ValueError):
                    raise DataError(path, key=f"line {number}",
                                    expected=f"'{video}___<clip>___<start>___<end>___<text>'",
                                    found=repr(line[:60])) from None
        cache[video] = times
    return cache[video]


def _mult_rows(path: Path, data: Any) -> tuple[dict[tuple, tuple[str, int]], dict[str, dict[str, np.ndarray]], int]:
    """MuLT rows by (video, start, end), the checked arrays per MuLT split, and -inf replaced."""
    rows: dict[tuple, tuple[str, int]] = {}
    arrays, replaced = {}, 0
    for key in ("train", "valid", "test"):
        arrays[key], count = read_mult_split(path, data, key, WIDTHS, (None, None))
        replaced += count
        ids = np.asarray(require_key(data[key], "id", path, "an array (n, 3) of (video, start, end)", f"{key}/id"))
        if ids.ndim != 2 or ids.shape[1] != 3 or len(ids) != len(arrays[key]["audio"]):
            raise ShapeError(path, key=f"{key}/id", expected=f"shape ({len(arrays[key]['audio'])}, 3)",
                             found=str(ids.shape))
        for row, (video, start, end) in enumerate(ids):
            try:
                rows.setdefault(_time_key(*(_text(v, path, f"{key}/id[{row}]") for v in (video, start, end))),
                               (key, row))
            except ValueError:
                raise DataError(path, key=f"{key}/id[{row}]", expected="(video, start seconds, end seconds)",
                                found=str(ids[row].tolist())) from None
    return rows, arrays, replaced


def _emotions(meta_path: Path, entry: Any, uttr: str) -> tuple[str, np.ndarray]:
    text = require_key(entry, "text", meta_path, "the utterance text")
    label = np.asarray(require_key(entry, "label", meta_path, "6 binary emotion labels"))
    if label.shape != (len(LABELS),) or not np.isin(label, (0, 1)).all():
        raise LabelError(meta_path, key=f"{uttr}: label", expected=f"{len(LABELS)} values in {{0, 1}} ({', '.join(LABELS)})",
                         found=str(label.tolist()))
    return _text(text, meta_path, f"{uttr}: text"), label.astype(np.float32)


def prepare(raw: str | Path, out: str | Path, *, config: DataConfig, encoder: Callable[[], TextEncoder],
            cache_dir: str | Path | None, synthetic: dict | None) -> dict[str, Any]:
    """Write the prepared CMU-MOSEI emotion folder ``out`` from the raw folder ``raw``."""
    raw = Path(raw)
    sources = Sources(raw)
    splits: dict[str, list[str]] = {}
    for split, name in SPLIT_FILES.items():
        path = raw / name
        if not path.is_file():
            raise MissingFileError(path, "Dai et al.'s split file", hint="`bpmult fetch mosei` downloads it")
        splits[split] = [line.strip() for line in decode_text(sources.read_bytes(path), path).splitlines()
                         if line.strip()]
    meta_path = raw / META
    meta = safe_load(meta_path, "Dai et al.'s meta.pkl (dict of text and labels)",
                     hint="place it by hand (data/manual/mosei/MOSEI_RAW_PROCESSED/meta.pkl), then `bpmult fetch mosei`")
    sources.add(meta_path)
    transcripts = _transcripts(raw)
    features_path = raw / FEATURES
    data = safe_load(features_path, "MuLT CMU-MOSEI pickle", hint="`bpmult fetch mosei` downloads it")
    sources.add(features_path)
    rows, mult, replaced = _mult_rows(features_path, data)
    del data
    times_cache: dict[str, dict] = {}
    matched: dict[str, list[tuple[str, str, np.ndarray, tuple[str, int]]]] = {}
    dropped: dict[str, list[str]] = {}
    for split, uttrs in splits.items():
        matched[split], dropped[split] = [], []
        for uttr in uttrs:
            if uttr not in meta:
                raise UnknownIdError(meta_path, key=uttr, expected=f"an entry for every id of {SPLIT_FILES[split]}",
                                     found="no entry")
            text, label = _emotions(meta_path, meta[uttr], uttr)
            video, _, clip = uttr.rpartition("_")
            key = _clip_times(transcripts, video, sources, times_cache).get(clip)
            row = rows.get(key) if key is not None else None
            if row is None:
                if config.mosei_allow_unmatched:
                    dropped[split].append(uttr)
                    continue
                where = (f"MuLT id {key}" if key is not None
                         else f"a transcript line for clip {clip} in {transcripts / (video + '.txt')}")
                raise UnknownIdError(features_path if key is not None else transcripts / f"{video}.txt",
                                     key=uttr, expected=f"{where} for the id of {SPLIT_FILES[split]}",
                                     found="none (set mosei_allow_unmatched=true to drop such ids)")
            matched[split].append((uttr, text, label, row))
        if not matched[split]:
            raise DataError(raw / SPLIT_FILES[split], expected="at least one id with features", found="none matched")
    lengths = {name: mult["train"][name].shape[1] for name in WIDTHS}
    text_encoder = encoder()
    length = config.mosei_text_len
    shapes = {**text_shapes(text_encoder, length, config.text_features), "video": (lengths["vision"], 35),
              "audio": (lengths["audio"], 74)}
    with PreparedWriter.of(out, "mosei") as writer:
        for split, items in matched.items():
            arrays = writer.add_split(split, [u for u, _, _, _ in items], shapes, (len(LABELS),),
                                      source=raw / SPLIT_FILES[split])
            for i, (_, _, label, (key, row)) in enumerate(items):
                arrays["video"][i] = fit_length(mult[key]["vision"][row], lengths["vision"])
                arrays["audio"][i] = fit_length(mult[key]["audio"][row], lengths["audio"])
                arrays["label"][i] = label
            fill_text(text_encoder, [t for _, t, _, _ in items], length, arrays, cache_dir,
                      config.text_features)
        return writer.write_manifest(
            text_encoder=describe(text_encoder, length, config.text_features), sources=sources.as_dict(), synthetic=synthetic or False,
            config=config.to_dict(),
            notes={"join": "Dai id <video>_<clip> -> transcript start/end -> MuLT id (video, start, end)",
                   "split": "Dai et al.'s split files", "video": "FACET (pickle key 'vision')", "audio": "COVAREP",
                   "dropped_unmatched": {s: len(d) for s, d in dropped.items()},
                   "neg_inf_in_audio_set_to_zero": replaced})


# ---------------------------------------------------------------------------------------------
# synthetic raw data

_ID_CHARS = np.array(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"))
AUDIO_PARTNER = ("anger", "fear", "surprise")  # the other emotions pair the words with the face (vision)


def write_synthetic(out: Path, rng: np.random.Generator, size: int) -> dict[str, Any]:
    """MOSEI in its raw formats; an emotion fires when its words are in the utterance AND its
    pattern is in the voice (anger, fear, surprise) or the face (disgust, happy, sad)."""
    extra = max(2, size // 10)  # utterances MuLT has but Dai's split does not
    total = size + extra
    n_videos = max(2, total // 5)
    videos = ["".join(rng.choice(_ID_CHARS, 11)) for _ in range(n_videos)]
    clips: list[tuple[str, int, float, float]] = []  # (video, clip, start, end)
    for position in range(total):
        video = videos[position % n_videos]
        clip = sum(1 for c in clips if c[0] == video)
        start = round(clip * 12.0 + float(rng.uniform(0.0, 2.0)), 3)
        clips.append((video, clip, start, round(start + float(rng.uniform(3.0, 9.0)), 3)))
    text_event, partner_event, labels = cooccurring_events(rng, total, len(LABELS), 0.45, 0.5)
    audio_patterns = sparse_patterns(rng, len(LABELS), 74, 6, 1.5)
    vision_patterns = sparse_patterns(rng, len(LABELS), 35, 5, 1.5)
    directions = label_directions(EMOTION_WORDS)
    texts, features = [], []
    for i in range(total):
        text = utterance(rng, [EMOTION_WORDS[LABELS[e]] for e in np.flatnonzero(text_event[i])])
        steps_audio, steps_vision = int(rng.integers(30, 51)), int(rng.integers(30, 51))
        audio = rng.normal(0.0, 0.5, (steps_audio, 74)).astype(np.float32)
        vision = rng.normal(0.0, 0.5, (steps_vision, 35)).astype(np.float32)
        for e in np.flatnonzero(partner_event[i]):
            if LABELS[e] in AUDIO_PARTNER:
                audio[event_window(rng, steps_audio, 15)] += audio_patterns[e]
            else:
                vision[event_window(rng, steps_vision, 15)] += vision_patterns[e]
        glove = np.stack([word_vector(w, 300, directions) for w in text.lower().replace(",", "").rstrip(".").split()])
        happy, sad, anger = (float(labels[i, LABELS.index(e)]) for e in ("happy", "sad", "anger"))
        sentiment = np.clip(happy - sad - anger + rng.normal(0, 0.5), -3, 3)
        texts.append(text)
        features.append({"vision": left_pad(vision, 50), "audio": left_pad(audio, 50),
                         "text": left_pad(glove[-50:], 50), "labels": np.full((1, 1), sentiment, np.float32)})
    dai = rng.permutation(total)[:size]
    dai_split = dict(zip(dai.tolist(), split_names(rng, size)))
    mult_split = np.array(["train", "valid", "test"])[rng.choice(3, size=total, p=[0.7, 0.1, 0.2])]
    data: dict[str, dict[str, Any]] = {key: {"vision": [], "audio": [], "text": [], "labels": [], "id": []}
                                       for key in ("train", "valid", "test")}
    for i in rng.permutation(total):
        video, _, start, end = clips[i]
        split = data[mult_split[i]]
        for name, value in features[i].items():
            split[name].append(value)
        # MuLT's id strings need not be formatted like the transcript's (e.g. '24.5' vs '24.500')
        fmt = "{:g}" if rng.random() < 0.5 else "{:.3f}"
        split["id"].append([video, fmt.format(start), fmt.format(end)])
    arrays = {key: {name: (np.array(values) if name == "id" else np.stack(values).astype(np.float32))
                    for name, values in split.items()} for key, split in data.items()}
    with open(out / FEATURES, "wb") as handle:
        pickle.dump(arrays, handle, protocol=4)
    (out / META).parent.mkdir(parents=True)
    meta = {f"{clips[i][0]}_{clips[i][1]}": {"text": texts[i], "label": [int(v) for v in labels[i]]} for i in range(total)}
    with open(out / META, "wb") as handle:
        pickle.dump(meta, handle, protocol=3)  # Dai et al. wrote it with Python 3.7's default protocol
    (out / "MOSEI_SPLIT").mkdir()
    for split, name in SPLIT_FILES.items():
        ids = sorted(f"{clips[i][0]}_{clips[i][1]}" for i, s in dai_split.items() if s == split)
        (out / name).write_text("\n".join(ids) + "\n")
    folder = out / TRANSCRIPT_DIRS[0]
    folder.mkdir(parents=True)
    for video in videos:
        lines = [f"{v}___{c}___{s:.3f}___{e:.3f}___{texts[i]}" for i, (v, c, s, e) in enumerate(clips) if v == video]
        (folder / f"{video}.txt").write_text("\n".join(lines) + "\n")
    return {"reductions": {FEATURES: "vision and audio 50 steps (real: 500); "
                                     f"{total} utterances, {extra} of them not in Dai's split",
                           "text": "text length 32 word pieces (real: 128)"},
            "data_config": {"mosei_text_len": 32}}

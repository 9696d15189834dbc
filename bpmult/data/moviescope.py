"""Moviescope (Cascante-Bonilla et al. 2019): movie-genre classification from trailer, plot, poster.

Raw layout read by ``prepare`` (research/datasets.md §1.2), as the features unpack:

```
train.jsonl dev.jsonl test.jsonl     {"label": [genres], "id": <int>, "synopsis": "<plot>"} per line
200F_VGG16/<id>.p                    Python-2 pickle, float32 (1, 200, 4096) VGG16 frame features
PosterFeatures/<id>.p                Python-2 pickle, float32 (1, 4096) VGG16 poster features
Melspectrogram/<id>.p                Python-2 pickle, float32 (96, T) log-mel spectrogram
Metadata_matrices/{train,val,test}_metadata.npy + {train,val,test}_ids.pickle   optional, 312-d
```
or the authors' demo subset (``sub_video_frames.pt``, ``sub_spectrograms.pt``: torch-saved
``{id: tensor}``; ``train.jsonl``), split by row as their notebook does, without posters.

Prepared modalities: ``text`` (encoder states of the synopsis), ``video`` (frames, 4096),
``audio`` (the spectrogram time-major: (T, 96)), ``poster`` (4096) and, when the metadata
matrices are present, ``metadata`` (312) for the TVAPM setting. Labels: 13 genres, multi-hot, in
alphabetical order (``LABELS``), not the first-appearance order of the authors' loader.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from bpmult.data import py2pickle
from bpmult.data.checks import check_finite, fit_length, numeric_array, read_jsonl, require_file
from bpmult.data.config import DataConfig
from bpmult.data.errors import CorruptFileError, DataError, LabelError, MissingFileError, UnknownIdError, \
    UnsafePickleError
from bpmult.data.facts import FACTS
from bpmult.data.source import Source
from bpmult.data.prepared import PreparedWriter, Sources
from bpmult.data.safe_pickle import safe_load, safe_loads
from bpmult.data.synthetic import GENRE_WORDS, cooccurring_events, plot, relu_noise, sparse_patterns, split_names
from bpmult.data.text import TextEncoder, describe, fill_text, text_shapes

LABELS = FACTS["moviescope"].label_names
FRAME_DIM = POSTER_DIM = 4096
MEL_BINS = 96
METADATA_DIM = 312
SPLIT_FILES = {"train": "train.jsonl", "dev": "dev.jsonl", "test": "test.jsonl"}
METADATA_SPLITS = {"train": "train", "dev": "val", "test": "test"}  # the matrices call dev "val"
DEMO_FRAMES, DEMO_SPECTROGRAMS, DEMO_RECORDS = "sub_video_frames.pt", "sub_spectrograms.pt", "train.jsonl"
SYNTH_NAME = "moviescope"
_AUDIO_NOTE = ("mel spectrogram, time-major (T, 96), zero padded to the longest; true steps in audio_length "
               "(batches cropped to their shortest under moviescope_audio_crop=batch_shortest)")
_PROJECT = "the Moviescope project page https://www.cs.virginia.edu/~pc9za/research/moviescope.html"


def _drive(file_id: str) -> tuple[str, ...]:
    return (f"https://drive.usercontent.google.com/download?id={file_id}&export=download&confirm=t",
            f"https://drive.google.com/uc?export=download&id={file_id}&confirm=t")


# the full features have no stable URL and are placed by hand (optional here: the demo is an
# alternative); the authors' demo subset (their DEMO notebook's Drive ids) is downloaded
FETCH = {
    "moviescope": (
        *(Source(name, (), f"{_PROJECT} (splits with plots)", optional=True) for name in SPLIT_FILES.values()),
        *(Source(folder, (), f"{_PROJECT} (features)", kind="dir", optional=True)
          for folder in ("200F_VGG16", "PosterFeatures", "Melspectrogram")),
        Source("Metadata_matrices", (), "the MuLT-GMU authors' metadata matrices (TVAPM setting)", kind="dir",
               optional=True),
    ),
    "moviescope_demo": (
        Source(DEMO_FRAMES, _drive("1zKvC9U1q0n-9_nSDcnTIEeecHWD9GbUA"), "BPMuLT demo subset, frames (1.64 GB)"),
        Source(DEMO_SPECTROGRAMS, _drive("1wNr8qf2yMouuZ4FjpdQO4SvGaExUYLAz"), "BPMuLT demo subset, spectrograms (2.29 GB)"),
        Source(DEMO_RECORDS, _drive("1999p8LLBR6imXLCJyIeEU8owuR-QHbcH"), "BPMuLT demo subset, labels and plots"),
    ),
}


# ---------------------------------------------------------------------------------------------
# prepare


def _movies(path: Path, records: list[dict]) -> list[tuple[int, str, np.ndarray]]:
    """(id, synopsis, multi-hot label) per record, validated."""
    movies = []
    for line, record in enumerate(records, start=1):
        for key in ("id", "synopsis", "label"):
            if key not in record:
                raise DataError(path, key=f"line {line}: {key!r}", expected="keys 'id', 'synopsis', 'label'",
                                found=f"keys {sorted(record)}")
        movie, synopsis, genres = record["id"], record["synopsis"], record["label"]
        if isinstance(movie, bool) or not isinstance(movie, int):
            raise DataError(path, key=f"line {line}: 'id'", expected="an integer movie id", found=repr(movie))
        if not isinstance(synopsis, str) or not synopsis.strip():
            raise DataError(path, key=f"line {line}: 'synopsis'", expected="a non-empty plot text", found=repr(synopsis)[:40])
        genres = [genres] if isinstance(genres, str) else genres
        target = np.zeros(len(LABELS), dtype=np.float32)
        for genre in genres:
            if genre not in LABELS:
                raise LabelError(path, key=f"line {line}: 'label'", expected=f"genres among {list(LABELS)}",
                                 found=repr(genre))
            target[LABELS.index(genre)] = 1.0
        movies.append((movie, synopsis, target))
    return movies


def _check_unique(splits: dict[str, list], raw: Path) -> None:
    seen: dict[int, str] = {}
    for split, movies in splits.items():
        for movie, _, _ in movies:
            if movie in seen:
                raise DataError(raw / SPLIT_FILES[split], key=f"id {movie}",
                                expected="each movie in one split only", found=f"also in {seen[movie]}")
            seen[movie] = split


def _feature(sources: Sources | None, raw: Path, folder: str, movie: int, shape: tuple) -> np.ndarray:
    """The per-movie array ``folder/<movie>.p``; its digest goes to ``sources`` (None: not recorded)."""
    path = raw / folder / f"{movie}.p"
    what = "Python-2 pickle of a numpy array"
    if not path.is_file():
        raise MissingFileError(path, f"{folder} features of movie {movie}")
    value = safe_load(path, what) if sources is None else safe_loads(sources.read_bytes(path, folder), str(path), what)
    array = numeric_array(value, path, None, shape)
    check_finite(array, path, None)
    return array


def _metadata(raw: Path, sources: Sources) -> dict[str, tuple[np.ndarray, dict]]:
    folder = raw / "Metadata_matrices"
    out = {}
    for split, name in METADATA_SPLITS.items():
        matrix_path = require_file(folder / f"{name}_metadata.npy", "metadata matrix")
        ids_path = require_file(folder / f"{name}_ids.pickle", "metadata id -> row map")
        try:
            matrix = np.load(matrix_path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as err:
            found = "an empty file" if matrix_path.stat().st_size == 0 else f"{type(err).__name__}: {err}"
            raise CorruptFileError(matrix_path, expected="a numeric .npy matrix", found=found) from None
        matrix = numeric_array(matrix, matrix_path, None, (None, METADATA_DIM))
        check_finite(matrix, matrix_path, None)
        rows = safe_load(ids_path, "pickle of a dict id -> row")
        if not isinstance(rows, dict):
            raise DataError(ids_path, expected="a dict movie id -> matrix row", found=type(rows).__name__)
        sources.add(matrix_path)
        sources.add(ids_path)
        out[split] = (matrix, rows)
    return out


def prepare(raw: str | Path, out: str | Path, *, config: DataConfig, encoder: Callable[[], TextEncoder],
            cache_dir: str | Path | None, synthetic: dict | None) -> dict[str, Any]:
    """Write the prepared Moviescope folder ``out`` from the raw folder ``raw``; returns the manifest."""
    raw = Path(raw)
    if (raw / "200F_VGG16").is_dir():
        return _prepare_full(raw, Path(out), config, encoder, cache_dir, synthetic)
    if (raw / DEMO_FRAMES).is_file():
        return _prepare_demo(raw, Path(out), config, encoder, cache_dir, synthetic)
    raise MissingFileError(raw / "200F_VGG16", "Moviescope frame features (folder of <id>.p)",
                           hint=f"place the full features there by hand (data/manual/moviescope/), or fetch the "
                                f"authors' demo subset ({DEMO_FRAMES}) with `bpmult fetch moviescope`")


def _prepare_full(raw: Path, out: Path, config: DataConfig, encoder: Callable[[], TextEncoder],
                  cache_dir: str | Path | None, synthetic: dict | None) -> dict[str, Any]:
    sources = Sources(raw)
    splits = {}
    for split, name in SPLIT_FILES.items():
        path = raw / name
        splits[split] = _movies(path, read_jsonl(path, "Moviescope split (JSON lines)"))
        sources.add(path)
    _check_unique(splits, raw)
    use_metadata = config.moviescope_metadata and (raw / "Metadata_matrices").is_dir()
    metadata = _metadata(raw, sources) if use_metadata else {}
    mel_steps = config.moviescope_mel_steps or max(  # the longest spectrogram (first pass, shapes only)
        _feature(None, raw, "Melspectrogram", movie, (MEL_BINS, None)).shape[1]
        for movies in splits.values() for movie, _, _ in movies)
    text_encoder = encoder()
    length = config.moviescope_text_len
    shapes = {**text_shapes(text_encoder, length, config.text_features),
              "video": (config.moviescope_frames, FRAME_DIM),
              "audio": (mel_steps, MEL_BINS), "poster": (POSTER_DIM,)}
    if use_metadata:
        shapes["metadata"] = (METADATA_DIM,)
    with PreparedWriter.of(out, "moviescope") as writer:
        for split, movies in splits.items():
            arrays = writer.add_split(split, [m for m, _, _ in movies], shapes, (len(LABELS),),
                                      source=raw / SPLIT_FILES[split], lengths=("audio",))
            for i, (movie, _, target) in enumerate(movies):
                arrays["video"][i] = fit_length(_feature(sources, raw, "200F_VGG16", movie, (None, FRAME_DIM)),
                                                config.moviescope_frames)
                arrays["poster"][i] = _feature(sources, raw, "PosterFeatures", movie, (POSTER_DIM,))
                mel = _feature(sources, raw, "Melspectrogram", movie, (MEL_BINS, None))
                arrays["audio"][i] = fit_length(mel.T, mel_steps)
                arrays["audio_length"][i] = min(mel.shape[1], mel_steps)
                arrays["label"][i] = target
                if use_metadata:
                    matrix, rows = metadata[split]
                    ids_path = raw / "Metadata_matrices" / f"{METADATA_SPLITS[split]}_ids.pickle"
                    row = _lookup(rows, movie, ids_path, f"a row for every movie of {SPLIT_FILES[split]}")
                    if not isinstance(row, (int, np.integer)) or not 0 <= row < len(matrix):
                        raise DataError(ids_path, key=str(movie), expected=f"a row index below {len(matrix)}",
                                        found=repr(row))
                    arrays["metadata"][i] = matrix[int(row)]
            fill_text(text_encoder, [s for _, s, _ in movies], length, arrays, cache_dir, config.text_features)
        return writer.write_manifest(
            text_encoder=describe(text_encoder, length, config.text_features), sources=sources.as_dict(), synthetic=synthetic or False,
            config=config.to_dict(), notes={"layout": "full features", "audio": _AUDIO_NOTE, "metadata": use_metadata})


def _torch_dict(path: Path) -> dict:
    """A torch-saved ``{id: tensor}`` read with torch's restricted (weights-only) unpickler."""
    require_file(path, "torch-saved dict of tensors")
    try:
        value = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError as err:
        raise UnsafePickleError(path, expected="tensors and plain containers only", found=str(err).splitlines()[0]) from None
    except (RuntimeError, EOFError, ValueError, OSError) as err:
        raise CorruptFileError(path, expected="a torch-saved dict of tensors", found=f"{type(err).__name__}: {err}") from None
    if not isinstance(value, dict):
        raise DataError(path, expected="a dict movie id -> tensor", found=type(value).__name__)
    return value


def _lookup(table: dict, movie: int, path: Path, expected: str) -> Any:
    """``table[movie]``, with the id as int or str (the key type of these files is not documented)."""
    for key in (movie, str(movie)):
        if key in table:
            return table[key]
    raise UnknownIdError(path, key=str(movie), expected=expected, found="no entry")


def _prepare_demo(raw: Path, out: Path, config: DataConfig, encoder: Callable[[], TextEncoder],
                  cache_dir: str | Path | None, synthetic: dict | None) -> dict[str, Any]:
    sources = Sources(raw)
    records_path = raw / DEMO_RECORDS
    movies = _movies(records_path, read_jsonl(records_path, "demo records (JSON lines)"))
    cut_train, cut_dev = config.moviescope_demo_train, config.moviescope_demo_dev
    splits = {"train": movies[:cut_train], "dev": movies[cut_train:cut_dev], "test": movies[cut_dev:]}
    if not all(splits.values()):
        raise DataError(records_path, expected=f"more than {cut_dev} records for the demo cut "
                        f"[:{cut_train}] / [{cut_train}:{cut_dev}] / [{cut_dev}:]", found=f"{len(movies)} records")
    _check_unique(splits, raw)
    frames_path, spectra_path = raw / DEMO_FRAMES, raw / DEMO_SPECTROGRAMS
    frames, spectra = _torch_dict(frames_path), _torch_dict(spectra_path)
    for path in (records_path, frames_path, spectra_path):
        sources.add(path)

    def spectrogram(movie: int) -> np.ndarray:  # stored (96, T) like Melspectrogram, or already (T, 96)
        array = numeric_array(_lookup(spectra, movie, spectra_path, "a spectrogram for every movie of train.jsonl"),
                              spectra_path, str(movie), (None, None))
        if array.shape[0] != MEL_BINS and array.shape[1] == MEL_BINS:
            array = array.T
        if array.shape[0] != MEL_BINS:
            raise DataError(spectra_path, key=str(movie), expected=f"a ({MEL_BINS}, T) spectrogram",
                            found=str(array.shape))
        check_finite(array, spectra_path, str(movie))
        return array.T

    mel_steps = config.moviescope_mel_steps or max(len(spectrogram(m)) for ms in splits.values() for m, _, _ in ms)
    text_encoder = encoder()
    length = config.moviescope_text_len
    shapes = {**text_shapes(text_encoder, length, config.text_features),
              "video": (config.moviescope_frames, FRAME_DIM),
              "audio": (mel_steps, MEL_BINS)}
    with PreparedWriter.of(out, "moviescope") as writer:
        for split, split_movies in splits.items():
            arrays = writer.add_split(split, [m for m, _, _ in split_movies], shapes, (len(LABELS),),
                                      source=records_path, lengths=("audio",))
            for i, (movie, _, target) in enumerate(split_movies):
                video = numeric_array(_lookup(frames, movie, frames_path, "frames for every movie of train.jsonl"),
                                      frames_path, str(movie), (None, FRAME_DIM))
                check_finite(video, frames_path, str(movie))
                arrays["video"][i] = fit_length(video, config.moviescope_frames)
                mel = spectrogram(movie)
                arrays["audio"][i] = fit_length(mel, mel_steps)
                arrays["audio_length"][i] = min(len(mel), mel_steps)
                arrays["label"][i] = target
            fill_text(text_encoder, [s for _, s, _ in split_movies], length, arrays, cache_dir, config.text_features)
        return writer.write_manifest(
            text_encoder=describe(text_encoder, length, config.text_features), sources=sources.as_dict(), synthetic=synthetic or False,
            config=config.to_dict(),
            notes={"layout": "authors' demo subset (no posters; split by row as in their notebook)",
                   "audio": _AUDIO_NOTE})


# ---------------------------------------------------------------------------------------------
# synthetic raw data


def write_synthetic(out: Path, rng: np.random.Generator, size: int) -> dict[str, Any]:
    """Moviescope in its raw format; a genre fires when its words are in the plot AND its event is
    in the partner modality: the trailer frames (even genre index) or the soundtrack (odd)."""
    frames, mel_bins, n_labels = 20, MEL_BINS, len(LABELS)
    text_event, partner_event, labels = cooccurring_events(rng, size, n_labels, 0.4, 0.5, min_labels=1)
    frame_patterns = sparse_patterns(rng, n_labels, FRAME_DIM, 48, 2.0)
    poster_patterns = sparse_patterns(rng, n_labels, POSTER_DIM, 48, 1.0)
    movies = rng.choice(5043, size=size, replace=False)  # ids are rows of the IMDB-5000 csv
    split_of = split_names(rng, size)
    for folder in ("200F_VGG16", "PosterFeatures", "Melspectrogram", "Metadata_matrices"):
        (out / folder).mkdir()
    lines: dict[str, list[str]] = {split: [] for split in SPLIT_FILES}
    metadata: dict[str, list[tuple[int, np.ndarray]]] = {split: [] for split in SPLIT_FILES}
    for i, movie in enumerate(int(m) for m in movies):
        video = relu_noise(rng, (frames, FRAME_DIM), 0.3)
        steps = int(rng.integers(380, 421))  # trailers differ in length; the audio encoder needs >= 382 after padding
        mel = (rng.normal(-4.0, 0.4, (mel_bins, steps)) + np.linspace(1.0, -1.0, mel_bins)[:, None]).astype(np.float32)
        for genre in np.flatnonzero(partner_event[i]):
            if genre % 2 == 0:
                start = int(rng.integers(0, frames - 12 + 1))
                video[start:start + 12] += frame_patterns[genre]
            else:
                start = int(rng.integers(0, steps - 200 + 1))
                mel[2 + 7 * genre: 7 + 7 * genre, start:start + 200] += 3.0
        poster = relu_noise(rng, (POSTER_DIM,), 0.3)
        shown = np.where(labels[i], rng.random(n_labels) < 0.35, rng.random(n_labels) < 0.08)  # a weak hint
        poster += poster_patterns[shown].sum(axis=0)
        py2pickle.dump(video[None], out / "200F_VGG16" / f"{movie}.p")
        py2pickle.dump(poster[None], out / "PosterFeatures" / f"{movie}.p")
        py2pickle.dump(mel, out / "Melspectrogram" / f"{movie}.p")
        synopsis = plot(rng, [GENRE_WORDS[LABELS[g]] for g in np.flatnonzero(text_event[i])])
        genres = [LABELS[g] for g in rng.permutation(np.flatnonzero(labels[i]))]  # not alphabetical on disk
        lines[split_of[i]].append(json.dumps({"label": genres, "id": movie, "synopsis": synopsis}))
        vector = rng.normal(0.0, 1.0, METADATA_DIM).astype(np.float32)
        vector[:n_labels] += 0.5 * labels[i]
        metadata[split_of[i]].append((movie, vector))
    for split, name in SPLIT_FILES.items():
        (out / name).write_text("\n".join(lines[split]) + "\n")
        matrix_name = METADATA_SPLITS[split]
        rows = metadata[split][::-1]  # matrix rows in another order than the jsonl: the id map must be used
        np.save(out / "Metadata_matrices" / f"{matrix_name}_metadata.npy", np.stack([v for _, v in rows]))
        py2pickle.dump({movie: row for row, (movie, _) in enumerate(rows)},
                       out / "Metadata_matrices" / f"{matrix_name}_ids.pickle")
    return {"reductions": {"200F_VGG16": "20 frames per trailer (real: 200)",
                           "Melspectrogram": "380-420 steps (real: longer trailers)",
                           "text": "short plots; text length 96 word pieces (real: 512)"},
            "data_config": {"moviescope_frames": frames, "moviescope_text_len": 96,
                            "moviescope_audio_crop": "pad_longest"}}  # the embedded models were tuned padded

"""MM-IMDb (Arevalo et al. 2017): movie-genre classification from plot and poster.

Raw layout read by ``prepare`` (research/datasets.md §2), as the downloads unpack:

```
mmimdb/split.json                 {"train": [ids], "dev": [ids], "test": [ids]}   (mmimdb.tar.gz)
mmimdb/dataset/<id>.json          IMDbPY record: "plot" (list of str), "genres" (list of str), ...
multimodal_imdb.hdf5              "vgg_features" (N, 4096) float32, "imdb_ids" (N,) S7, ...
glove.6B.300d.txt                 GloVe vectors, one "word v1 ... v300" per line (glove.6B.zip)
```
Prepared modalities, following the paper's MM-IMDb wiring (§7.5; spec architecture §4):
``text`` the encoder states of the longest plot; ``video`` the GloVe vectors of the plot's words
(out-of-vocabulary words skipped); ``audio`` the bag-of-words counts over the ``mmimdb_bow_vocab``
most frequent training words as a (V, 1) sequence (words by descending training frequency, ties
alphabetical; zero rows when the vocabulary is smaller); ``poster`` the VGG16 features of the
HDF5 row with the movie's ``imdb_ids``. Labels: the 23 genres of Arevalo's set, alphabetical;
other IMDb genres of a record (e.g. News, Reality-TV) are ignored, as in the 23-class setting.
"""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Any, Callable

import h5py
import numpy as np

from bpmult.data.checks import check_finite, fit_length, numeric_array, read_json, require_file, require_key, words
from bpmult.data.config import DataConfig
from bpmult.data.errors import CorruptFileError, DataError, ShapeError, UnknownIdError
from bpmult.data.facts import FACTS
from bpmult.data.source import Source
from bpmult.data.prepared import PreparedWriter, Sources
from bpmult.data.synthetic import CHARACTER_NAMES, GENRE_WORDS, cooccurring_events, label_directions, plot, relu_noise, \
    sparse_patterns, split_names, word_vector
from bpmult.data.text import TextEncoder, describe, fill_text, text_shapes

LABELS = FACTS["mmimdb"].label_names
# the HDF5 "genres" columns: most frequent first (target_names), as Arevalo's make_dataset writes them
HDF5_GENRE_ORDER = ("Drama", "Comedy", "Romance", "Thriller", "Crime", "Action", "Adventure", "Horror",
                    "Documentary", "Mystery", "Sci-Fi", "Fantasy", "Family", "Biography", "War", "History", "Music",
                    "Animation", "Musical", "Western", "Sport", "Short", "Film-Noir")
GLOVE_DIM, POSTER_DIM = 300, 4096
SPLIT_FILE, RECORDS, HDF5_FILE = "mmimdb/split.json", "mmimdb/dataset", "multimodal_imdb.hdf5"
SYNTH_NAME = "mmimdb"
FETCH = {"mmimdb": (
    Source("mmimdb.tar.gz", ("https://archive.org/download/mmimdb/mmimdb.tar.gz",
                             "http://lisi1.unal.edu.co/mmimdb/mmimdb.tar.gz"),
           "MM-IMDb raw archive (Arevalo et al.; archive.org mirror, then the original host)", extract="tar"),
    Source(HDF5_FILE, ("https://archive.org/download/mmimdb/multimodal_imdb.hdf5",
                       "http://lisi1.unal.edu.co/mmimdb/multimodal_imdb.hdf5"),
           "MM-IMDb Fuel/HDF5 version with VGG16 poster features"),
    Source("glove.6B.zip", ("https://nlp.stanford.edu/data/glove.6B.zip",
                            "https://downloads.cs.stanford.edu/nlp/data/glove.6B.zip"),
           "GloVe 6B word vectors (Stanford NLP)", extract=("glove.6B.300d.txt",)),
)}


# ---------------------------------------------------------------------------------------------
# prepare


def _movie_id(value: Any, path: Path) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:07d}"
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise DataError(path, expected="movie ids as 7-digit strings", found=repr(value))


def _longest_plot(record: Any, path: Path) -> str:
    plots = require_key(record, "plot", path, "the movie's plot summaries (a list of strings)")
    if isinstance(plots, str):
        plots = [plots]
    if not isinstance(plots, list) or not plots or not all(isinstance(p, str) for p in plots):
        raise DataError(path, key="plot", expected="a non-empty list of strings", found=repr(plots)[:60])
    return plots[int(np.argmax([len(p) for p in plots]))]  # the longest, as MMBT and GMU choose


def _target(record: Any, path: Path) -> np.ndarray:
    genres = require_key(record, "genres", path, "the movie's genres (a list of strings)")
    if not isinstance(genres, list) or not all(isinstance(g, str) for g in genres):
        raise DataError(path, key="genres", expected="a list of strings", found=repr(genres)[:60])
    target = np.zeros(len(LABELS), dtype=np.float32)
    for genre in genres:
        if genre in LABELS:
            target[LABELS.index(genre)] = 1.0
    return target


def _hdf5_posters(path: Path, sources: Sources):
    require_file(path, "MM-IMDb HDF5 file (multimodal_imdb.hdf5)")
    sources.add(path)
    try:
        handle = h5py.File(path, "r")
    except OSError as err:
        raise CorruptFileError(path, expected="an HDF5 file", found=str(err)) from None
    for key in ("imdb_ids", "vgg_features"):
        if key not in handle:
            handle.close()
            raise DataError(path, key=key, expected="a dataset of this name", found=f"datasets {sorted(handle)}")
    ids = [i.decode("ascii") if isinstance(i, bytes) else str(i) for i in handle["imdb_ids"][()]]
    features = handle["vgg_features"]
    if features.ndim != 2 or features.shape[1] != POSTER_DIM or features.shape[0] != len(ids):
        shape = features.shape
        handle.close()
        raise ShapeError(path, key="vgg_features", expected=f"shape ({len(ids)}, {POSTER_DIM}) (one row per imdb_ids)",
                         found=str(shape))
    return handle, {movie: row for row, movie in enumerate(ids)}


def _glove(path: Path, needed: set[str]) -> dict[str, np.ndarray]:
    """The vectors of the ``needed`` words, streaming the (multi-GB) text file once."""
    require_file(path, "GloVe vectors (text format)", hint="unpack glove.6B.zip, or set mmimdb_glove_file")
    vectors = {}
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            word, _, rest = line.rstrip("\n").partition(" ")
            if word not in needed:
                continue
            try:
                vector = np.array(rest.split(" "), dtype=np.float32)
            except ValueError:
                raise CorruptFileError(path, key=f"line {number}", expected=f"a word and {GLOVE_DIM} numbers",
                                       found=repr(line[:60])) from None
            if vector.shape != (GLOVE_DIM,):
                raise ShapeError(path, key=f"line {number} ({word!r})", expected=f"{GLOVE_DIM} numbers",
                                 found=f"{vector.size}")
            check_finite(vector, path, f"line {number}")
            vectors[word] = vector
    return vectors


def bow_vocabulary(train_plots: list[list[str]], size: int) -> list[str]:
    """The ``size`` most frequent training words (descending count, ties alphabetical)."""
    counts = collections.Counter(word for plot_words in train_plots for word in plot_words)
    return [w for w, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:size]]


def prepare(raw: str | Path, out: str | Path, *, config: DataConfig, encoder: Callable[[], TextEncoder],
            cache_dir: str | Path | None, synthetic: dict | None) -> dict[str, Any]:
    """Write the prepared MM-IMDb folder ``out`` from the raw folder ``raw``; returns the manifest."""
    raw, out = Path(raw), Path(out)
    sources = Sources(raw)
    split_path = raw / SPLIT_FILE
    split_ids = read_json(split_path, "MM-IMDb split file")
    sources.add(split_path)
    movies: dict[str, list[tuple[str, str, np.ndarray]]] = {}
    seen: dict[str, str] = {}
    for split in ("train", "dev", "test"):
        ids = require_key(split_ids, split, split_path, "a list of movie ids")
        if not isinstance(ids, list) or not ids:
            raise DataError(split_path, key=split, expected="a non-empty list of movie ids", found=repr(ids)[:60])
        movies[split] = []
        for value in ids:
            movie = _movie_id(value, split_path)
            if movie in seen:
                raise DataError(split_path, key=f"{split}: {movie}", expected="each movie in one split only",
                                found=f"also in {seen[movie]}")
            seen[movie] = split
            path = raw / RECORDS / f"{movie}.json"
            if not path.is_file():
                raise UnknownIdError(split_path, key=f"{split}: {movie}", expected=f"a record {path}",
                                     found="no such file")
            record = read_json(path, "IMDbPY movie record", sources.read_bytes(path, RECORDS))
            movies[split].append((movie, _longest_plot(record, path), _target(record, path)))
    tokens = {movie: words(text) for split in movies.values() for movie, text, _ in split}
    vocabulary = bow_vocabulary([tokens[m] for m, _, _ in movies["train"]], config.mmimdb_bow_vocab)
    index = {word: i for i, word in enumerate(vocabulary)}
    glove_path = raw / config.mmimdb_glove_file
    glove = _glove(glove_path, set().union(*tokens.values()))
    coverage = _coverage(tokens, glove)
    if coverage < config.mmimdb_min_glove_coverage:
        raise DataError(glove_path, key="glove_coverage", expected=f"GloVe vectors for at least "
                        f"{config.mmimdb_min_glove_coverage:.0%} of the plots' words (mmimdb_min_glove_coverage)",
                        found=f"{coverage:.1%}; is it the right GloVe file (glove.6B.300d.txt), complete?")
    sources.add(glove_path)
    hdf5, rows = _hdf5_posters(raw / HDF5_FILE, sources)
    text_encoder = encoder()
    length = config.mmimdb_text_len
    shapes = {**text_shapes(text_encoder, length, config.text_features),
              "video": (config.mmimdb_glove_len, GLOVE_DIM), "audio": (config.mmimdb_bow_vocab, 1),
              "poster": (POSTER_DIM,)}
    try:
        with PreparedWriter.of(out, "mmimdb") as writer:
            for split, split_movies in movies.items():
                arrays = writer.add_split(split, [m for m, _, _ in split_movies], shapes, (len(LABELS),),
                                          source=split_path)
                for i, (movie, _, target) in enumerate(split_movies):
                    if movie not in rows:
                        raise UnknownIdError(raw / HDF5_FILE, key=f"imdb_ids: {movie}",
                                             expected=f"a poster row for every id of {SPLIT_FILE} ({split})",
                                             found="no such id")
                    poster = numeric_array(hdf5["vgg_features"][rows[movie]], raw / HDF5_FILE, "vgg_features",
                                           (POSTER_DIM,))
                    check_finite(poster, raw / HDF5_FILE, f"vgg_features[{rows[movie]}]")
                    arrays["poster"][i] = poster
                    sequence = [glove[w] for w in tokens[movie] if w in glove]
                    sequence = np.stack(sequence) if sequence else np.zeros((0, GLOVE_DIM), np.float32)
                    arrays["video"][i] = fit_length(sequence, config.mmimdb_glove_len)
                    for word in tokens[movie]:
                        if word in index:
                            arrays["audio"][i, index[word], 0] += 1.0
                    arrays["label"][i] = target
                fill_text(text_encoder, [t for _, t, _ in split_movies], length, arrays, cache_dir,
                          config.text_features)
            (writer.stage / "bow_vocabulary.json").write_text(json.dumps(vocabulary) + "\n")
            return writer.write_manifest(
                text_encoder=describe(text_encoder, length, config.text_features), sources=sources.as_dict(), synthetic=synthetic or False,
                config=config.to_dict(),
                notes={"video": f"GloVe vectors of the longest plot's words ({config.mmimdb_glove_file})",
                       "audio": f"bag-of-words counts over {len(vocabulary)} training words "
                                f"(list: bow_vocabulary.json), as a ({config.mmimdb_bow_vocab}, 1) sequence",
                       "glove_coverage": coverage})
    finally:
        hdf5.close()


def _coverage(tokens: dict[str, list[str]], glove: dict[str, np.ndarray]) -> float:
    total = sum(len(t) for t in tokens.values())
    return round(sum(w in glove for t in tokens.values() for w in t) / max(total, 1), 4)


# ---------------------------------------------------------------------------------------------
# synthetic raw data


def write_synthetic(out: Path, rng: np.random.Generator, size: int) -> dict[str, Any]:
    """MM-IMDb in its raw format; a genre fires when its words are in the longest plot AND its
    pattern is in the poster (VGG features; the JPEG shows the same events as coloured bands)."""
    from PIL import Image  # noqa: PLC0415 (Pillow only for writing synthetic posters, never in prepare)

    n_labels = len(LABELS)
    text_event, poster_event, labels = cooccurring_events(rng, size, n_labels, 0.2, 0.55, min_labels=1)
    patterns = sparse_patterns(rng, n_labels, POSTER_DIM, 48, 2.0)
    colours = rng.integers(0, 256, (n_labels, 3))
    movies = [f"{m:07d}" for m in rng.choice(3_000_000, size=size, replace=False)]
    split_of = split_names(rng, size)
    dataset = out / RECORDS
    dataset.mkdir(parents=True)
    longest, posters = {}, {}
    for i, movie in enumerate(movies):
        text = plot(rng, [GENRE_WORDS[LABELS[g]] for g in np.flatnonzero(text_event[i])])
        plots = [text] + [plot(rng, [], fillers=0) for _ in range(int(rng.integers(0, 3)))]  # shorter summaries
        plots = [plots[j] for j in rng.permutation(len(plots))]
        genres = [LABELS[g] for g in rng.permutation(np.flatnonzero(labels[i]))]
        if rng.random() < 0.05:
            genres.append("Reality-TV")  # outside the 23-genre set: ignored by prepare
        record = {"title": f"Movie {movie}", "year": int(rng.integers(1920, 2015)), "genres": genres,
                  "plot": plots, "kind": "movie", "imdbID": movie, "cover url": f"https://example.invalid/{movie}.jpg"}
        (dataset / f"{movie}.json").write_text(json.dumps(record))
        image = np.full((150, 100, 3), 40, dtype=np.uint8) + rng.integers(0, 30, (150, 100, 3), dtype=np.uint8)
        for band, genre in enumerate(np.flatnonzero(poster_event[i])):
            image[10 + 12 * band: 18 + 12 * band] = colours[genre]
        Image.fromarray(image).save(dataset / f"{movie}.jpeg", format="JPEG", quality=85)
        longest[movie] = text
        posters[movie] = relu_noise(rng, (POSTER_DIM,), 0.3) + patterns[poster_event[i]].sum(axis=0)
    splits = {s: [m for m, name in zip(movies, split_of) if name == s] for s in ("train", "dev", "test")}
    (out / SPLIT_FILE).write_text(json.dumps(splits))
    directions = label_directions(GENRE_WORDS, scale=1.5)
    vocabulary = sorted({w for text in longest.values() for w in words(text)} - {n.lower() for n in CHARACTER_NAMES})
    with open(out / "glove.6B.300d.txt", "w", encoding="utf-8") as handle:  # character names stay out of vocabulary
        for word in vocabulary:
            handle.write(word + " " + " ".join(f"{v:.5f}" for v in word_vector(word, GLOVE_DIM, directions)) + "\n")
    # HDF5 rows in Fuel's order (train, dev, test), shuffled within each split: prepare matches by imdb_ids
    order = [m for s in ("train", "dev", "test") for m in rng.permutation(splits[s])]
    with h5py.File(out / HDF5_FILE, "w") as handle:
        handle["imdb_ids"] = np.array([m.encode("ascii") for m in order], dtype="S7")
        handle["vgg_features"] = np.stack([posters[m] for m in order]).astype(np.float32)
        handle["features"] = np.stack([_mean_vector(longest[m], directions) for m in order])
        target = np.zeros((size, n_labels), dtype=np.int32)
        position = {m: i for i, m in enumerate(movies)}
        for row, movie in enumerate(order):
            for column, genre in enumerate(HDF5_GENRE_ORDER):
                target[row, column] = labels[position[movie], LABELS.index(genre)]
        handle["genres"] = target
        handle["genres"].attrs["target_names"] = json.dumps(list(HDF5_GENRE_ORDER))
        handle.attrs["split"] = _fuel_split(h5py, [len(splits[s]) for s in ("train", "dev", "test")])
    return {"reductions": {"mmimdb/dataset": f"{size} movies, posters 100x150 JPEG",
                           "multimodal_imdb.hdf5": "datasets imdb_ids, vgg_features, features, genres and the Fuel "
                                                   "split attribute; images, sequences and n-gram datasets omitted",
                           "glove.6B.300d.txt": "only the plots' words (character names left out of vocabulary)",
                           "text": "text length 96 word pieces, GloVe sequence 64, bag of words 256 (real: 512/512/10000)"},
            "data_config": {"mmimdb_text_len": 96, "mmimdb_glove_len": 64, "mmimdb_bow_vocab": 256}}


def _mean_vector(text: str, directions: dict[str, np.ndarray]) -> np.ndarray:
    vectors = [word_vector(w, GLOVE_DIM, directions) for w in words(text)]
    return np.mean(vectors, axis=0).astype(np.float32)


def _fuel_split(h5py: Any, counts: list[int]) -> np.ndarray:
    """Fuel's H5PYDataset split array: one row per (split, source) with start/stop rows."""
    dtype = np.dtype([("split", "S5"), ("source", "S12"), ("start", np.int64), ("stop", np.int64),
                      ("indices", h5py.ref_dtype), ("available", np.bool_), ("comment", "S1")])
    rows, start = [], 0
    for split, count in zip(("train", "dev", "test"), counts):
        for source in ("imdb_ids", "vgg_features", "features", "genres"):
            rows.append((split.encode(), source.encode(), start, start + count, h5py.Reference(), True, b"."))
        start += count
    return np.array(rows, dtype=dtype)

"""The synthetic raw sets: real formats, a marker that prepare copies into the manifest, and labels
that need two modalities (a label fires only when its events co-occur)."""

from __future__ import annotations

import hashlib
import json
import pickle

import numpy as np
import pytest

from bpmult.data import DataError, load_prepared, mosei, synthesize
from bpmult.data.iemocap import VALENCE_SCALE, VALENCE_WORDS
from bpmult.data.moviescope import LABELS as GENRES
from bpmult.data.synthetic import EMOTION_WORDS, GENRE_WORDS, MARKER, cooccurring_events, label_directions, word_vector

NAMES = ["moviescope", "mmimdb", "iemocap_aligned", "iemocap_unaligned", "mosei"]


@pytest.mark.parametrize("name", NAMES)
def test_synth_prepare_load_for_every_dataset(name, synthetic_raw, prepare_fake):
    raw = synthetic_raw(name)
    record = json.loads((raw / MARKER).read_text())
    out, manifest = prepare_fake(name, raw)
    assert manifest["synthetic"] is True and manifest["synthetic_generator"] == record
    assert all(manifest["config"][key] == value for key, value in record["data_config"].items())
    assert sum(split["n"] for split in manifest["splits"].values()) == 12
    for split in ("train", "dev", "test"):
        data = load_prepared(out, split)
        item = data[0]
        assert set(item) == {*manifest["modalities"], *manifest["lengths"].values(), "label"}
        assert all(list(item[m].shape) == manifest["modalities"][m] for m in manifest["modalities"])


def test_same_seed_same_files_other_seed_other_files(tmp_path):
    digests = []
    for seed, folder in ((3, "a"), (3, "b"), (4, "c")):
        synthesize("iemocap", tmp_path / folder, seed=seed, size=9)
        digests.append(hashlib.sha256((tmp_path / folder / "iemocap_data.pkl").read_bytes()).hexdigest())
    assert digests[0] == digests[1] != digests[2]


def test_synth_replaces_only_its_own_output(tmp_path):
    synthesize("iemocap", tmp_path / "set", size=6)
    synthesize("iemocap", tmp_path / "set", size=9)  # an earlier synthetic set is replaced
    assert json.loads((tmp_path / "set" / MARKER).read_text())["size"] == 9
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(DataError, match="refusing"):
        synthesize("iemocap", tmp_path / "mine", size=6)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def test_moviescope_files_are_python2_pickles(synthetic_raw):
    raw = synthetic_raw("moviescope")
    movie = json.loads((raw / "train.jsonl").read_text().splitlines()[0])["id"]
    data = (raw / "200F_VGG16" / f"{movie}.p").read_bytes()
    assert data[:2] == b"\x80\x02" and b"numpy.core.multiarray" in data and b"_codecs" not in data
    frames = pickle.loads(data, encoding="bytes")
    assert frames.shape == (1, 20, 4096) and frames.dtype == np.float32


def test_cooccurrence_rule():
    rng = np.random.default_rng(0)
    first, second, labels = cooccurring_events(rng, 400, 5, 0.4, 0.5, min_labels=1)
    np.testing.assert_array_equal(labels, first & second)
    assert labels.sum(axis=1).min() >= 1
    assert (first & ~second).any() and (second & ~first).any()  # each event also occurs alone


def test_moviescope_genres_need_the_plot_and_the_partner_modality(tmp_path):
    raw = tmp_path / "ms"
    synthesize("moviescope", raw, seed=2, size=40)
    records = [json.loads(line) for s in ("train", "dev", "test") for line in (raw / f"{s}.jsonl").read_text().splitlines()]
    text_only = 0
    for record in records:
        plot = record["synopsis"].lower()
        for genre in GENRES:
            mentioned = GENRE_WORDS[genre][0] in plot
            if genre in record["label"]:
                assert mentioned, (genre, plot)  # a genre never fires without its words
            text_only += mentioned and genre not in record["label"]
    assert text_only > 10  # ...but the words alone do not make the genre


def test_iemocap_emotion_needs_words_and_voice(synthetic_raw):
    raw = synthetic_raw("iemocap", size=120, seed=5)
    with open(raw / "iemocap_data.pkl", "rb") as handle:
        data = pickle.load(handle)
    directions = label_directions(VALENCE_WORDS, scale=VALENCE_SCALE)
    negative = np.stack([word_vector(w, 300, directions) for w in VALENCE_WORDS["negative"]])
    text = np.concatenate([data[k]["text"] for k in data])
    audio = np.concatenate([data[k]["audio"] for k in data])
    emotion = np.concatenate([data[k]["labels"] for k in data]).argmax(-1).argmax(-1)  # the positive emotion
    said_negative = np.array([any(np.allclose(row, v, atol=1e-5) for row in t for v in negative) for t in text])
    aroused = np.where(np.isfinite(audio[:, :, :8]), audio[:, :, :8], 0).mean(-1).max(-1) > 1.0
    truth_negative = np.isin(emotion, [2, 3])  # sad, angry
    truth_aroused = np.isin(emotion, [1, 3])  # happy, angry
    assert (said_negative == truth_negative).mean() > 0.85 and (aroused == truth_aroused).mean() > 0.85
    # neither cue alone names the emotion: both sad and angry speak negative words, etc.
    assert set(emotion[said_negative]) >= {2, 3} and set(emotion[aroused]) >= {1, 3}


def test_mosei_emotions_need_their_words(synthetic_raw):
    raw = synthetic_raw("mosei")
    with open(raw / mosei.META, "rb") as handle:
        meta = pickle.load(handle)
    for entry in meta.values():
        for emotion, positive in zip(mosei.LABELS, entry["label"]):
            if positive:
                assert any(word in entry["text"].lower() for word in EMOTION_WORDS[emotion])

"""Every dataset's prepare path on synthetic raw files in the real formats, checked value by value
against an independent reading of the raw files."""

from __future__ import annotations

import hashlib
import json
import pickle

import h5py
import numpy as np
import pytest
import torch

from bpmult.data import collate, load_prepared, read_manifest
from bpmult.data import iemocap, mmimdb, mosei, moviescope
from bpmult.data.checks import words

from .conftest import FakeEncoder


def fake_text(text: str, length: int) -> np.ndarray:
    rows = [FakeEncoder.vector(t) for t in ["[CLS]", *text.lower().split()]][:length]
    out = np.zeros((length, FakeEncoder.dim), np.float32)
    out[: len(rows)] = np.stack(rows)
    return out


def py2_load(path):
    with open(path, "rb") as handle:  # as the authors' loader reads these files
        return pickle.load(handle, encoding="bytes")


def test_moviescope_full_layout(synthetic_raw, prepare_fake):
    raw = synthetic_raw("moviescope")
    out, manifest = prepare_fake("moviescope", raw)
    assert manifest["label_names"] == sorted(moviescope.LABELS) == list(moviescope.LABELS)
    records = {s: [json.loads(line) for line in (raw / f"{s}.jsonl").read_text().splitlines()] for s in ("train", "dev", "test")}
    longest = max(py2_load(raw / "Melspectrogram" / f"{r['id']}.p").shape[1] for rs in records.values() for r in rs)
    assert manifest["modalities"] == {"text": [96, 8], "video": [20, 4096], "audio": [longest, 96],
                                      "poster": [4096], "metadata": [312]}
    assert manifest["synthetic"] is True and manifest["synthetic_generator"]["reductions"]
    assert manifest["sources"]["train.jsonl"] == hashlib.sha256((raw / "train.jsonl").read_bytes()).hexdigest()
    assert manifest["sources"]["200F_VGG16/"]["files"] == sum(len(r) for r in records.values())
    for split, rows in records.items():
        data = load_prepared(out, split)
        assert data.ids == [r["id"] for r in rows]
        matrix = np.load(raw / "Metadata_matrices" / f"{moviescope.METADATA_SPLITS[split]}_metadata.npy")
        id_rows = py2_load(raw / "Metadata_matrices" / f"{moviescope.METADATA_SPLITS[split]}_ids.pickle")
        for i, record in enumerate(rows):
            item = data[i]
            movie = record["id"]
            np.testing.assert_array_equal(item["video"].numpy(), py2_load(raw / "200F_VGG16" / f"{movie}.p")[0])
            np.testing.assert_array_equal(item["poster"].numpy(), py2_load(raw / "PosterFeatures" / f"{movie}.p")[0])
            mel = py2_load(raw / "Melspectrogram" / f"{movie}.p")
            np.testing.assert_array_equal(item["audio"][: mel.shape[1]].numpy(), mel.T)  # time-major
            assert not item["audio"][mel.shape[1]:].any()
            np.testing.assert_array_equal(item["metadata"].numpy(), matrix[id_rows[movie]])
            np.testing.assert_array_equal(item["text"].numpy(), fake_text(record["synopsis"], 96))
            expected = [1.0 if name in record["label"] else 0.0 for name in moviescope.LABELS]
            assert item["label"].tolist() == expected and item["label"].dtype == torch.float32


def test_moviescope_without_metadata_switch(synthetic_raw, prepare_fake):
    _, manifest = prepare_fake("moviescope", synthetic_raw("moviescope"), overrides=["moviescope_metadata=false"])
    assert "metadata" not in manifest["modalities"]


def test_moviescope_demo_layout(synthetic_raw, tmp_path, prepare_fake):
    """The authors' demo subset: torch-saved {id: tensor} dicts and one train.jsonl, split by row."""
    full = synthetic_raw("moviescope")
    lines = [line for s in ("train", "dev", "test") for line in (full / f"{s}.jsonl").read_text().splitlines()]
    ids = [json.loads(line)["id"] for line in lines]
    demo = tmp_path / "demo"
    demo.mkdir()
    (demo / "train.jsonl").write_text("\n".join(lines) + "\n")
    torch.save({m: torch.from_numpy(py2_load(full / "200F_VGG16" / f"{m}.p")) for m in ids}, demo / "sub_video_frames.pt")
    torch.save({str(m): torch.from_numpy(py2_load(full / "Melspectrogram" / f"{m}.p")) for m in ids},
               demo / "sub_spectrograms.pt")
    out, manifest = prepare_fake("moviescope", demo, overrides=["moviescope_demo_train=6", "moviescope_demo_dev=9",
                                                                 "moviescope_frames=20"])
    assert {s: v["n"] for s, v in manifest["splits"].items()} == {"train": 6, "dev": 3, "test": len(ids) - 9}
    assert set(manifest["modalities"]) == {"text", "video", "audio"}  # the demo has no posters
    test = load_prepared(out, "test")
    assert test.ids == ids[9:]
    mel = py2_load(full / "Melspectrogram" / f"{ids[9]}.p")
    np.testing.assert_array_equal(test[0]["audio"][: mel.shape[1]].numpy(), mel.T)


def test_mmimdb(synthetic_raw, tmp_path, prepare_fake):
    raw = synthetic_raw("mmimdb")
    out, manifest = prepare_fake("mmimdb", raw)
    assert manifest["label_names"] == list(mmimdb.LABELS) == sorted(mmimdb.LABELS) and len(mmimdb.LABELS) == 23
    assert manifest["modalities"] == {"text": [96, 8], "video": [64, 300], "audio": [256, 1], "poster": [4096]}
    splits = json.loads((raw / "mmimdb" / "split.json").read_text())
    glove = {}
    for line in (raw / "glove.6B.300d.txt").read_text().splitlines():
        word, *values = line.split(" ")
        glove[word] = np.array(values, np.float32)
    vocabulary = json.loads((out / "bow_vocabulary.json").read_text())
    with h5py.File(raw / "multimodal_imdb.hdf5") as handle:
        rows = {m.decode(): i for i, m in enumerate(handle["imdb_ids"][()])}
        posters = handle["vgg_features"][()]
    assert list(rows) != [m for s in ("train", "dev", "test") for m in splits[s]]  # rows are matched by id, not order
    for split in ("train", "dev", "test"):
        data = load_prepared(out, split)
        assert data.ids == splits[split]
        for i, movie in enumerate(splits[split]):
            record = json.loads((raw / "mmimdb" / "dataset" / f"{movie}.json").read_text())
            text = max(record["plot"], key=len)
            item = data[i]
            np.testing.assert_array_equal(item["text"].numpy(), fake_text(text, 96))
            np.testing.assert_array_equal(item["poster"].numpy(), posters[rows[movie]])
            sequence = [glove[w] for w in words(text) if w in glove]
            assert len(sequence) < len(words(text))  # character names are out of vocabulary and skipped
            np.testing.assert_allclose(item["video"][: len(sequence)].numpy(), np.stack(sequence))
            counts = np.zeros(256, np.float32)
            for word in words(text):
                if word in vocabulary:
                    counts[vocabulary.index(word)] += 1
            np.testing.assert_array_equal(item["audio"][:, 0].numpy(), counts)
            assert item["label"].tolist() == [float(g in record["genres"]) for g in mmimdb.LABELS]


def test_mmimdb_ignores_genres_outside_the_23(raw_copy, prepare_fake):
    raw = raw_copy("mmimdb")
    movie = json.loads((raw / "mmimdb" / "split.json").read_text())["train"][0]
    path = raw / "mmimdb" / "dataset" / f"{movie}.json"
    record = json.loads(path.read_text())
    before = [float(g in record["genres"]) for g in mmimdb.LABELS]
    record["genres"] += ["Reality-TV", "News"]
    path.write_text(json.dumps(record))
    out, _ = prepare_fake("mmimdb", raw)
    assert load_prepared(out, "train")[0]["label"].tolist() == before


def test_bow_vocabulary_is_the_most_frequent_training_words():
    plots = [["the", "ghost", "the"], ["a", "ghost", "the"], ["zebra", "a"]]
    assert mmimdb.bow_vocabulary(plots, 3) == ["the", "a", "ghost"]  # by count, ties alphabetical
    assert mmimdb.bow_vocabulary(plots, 10) == ["the", "a", "ghost", "zebra"]


@pytest.mark.parametrize("aligned", [True, False])
def test_iemocap(synthetic_raw, prepare_fake, aligned):
    raw = synthetic_raw("iemocap_aligned")
    name = "iemocap_aligned" if aligned else "iemocap_unaligned"
    out, manifest = prepare_fake(name, raw)
    with open(raw / iemocap.FILES[aligned], "rb") as handle:
        data = pickle.load(handle)
    lengths = (20, 20, 20) if aligned else (20, 40, 50)
    assert manifest["modalities"] == {"text": [lengths[0], 300], "audio": [lengths[1], 74], "video": [lengths[2], 35]}
    assert manifest["task"] == "iemocap" and manifest["label_names"] == ["neutral", "happy", "sad", "angry"]
    assert manifest["text_encoder"]["first_token_is_cls"] is False
    assert sum(manifest["notes"]["neg_inf_in_audio_set_to_zero"].values()) > 0
    for split, key in (("train", "train"), ("dev", "valid"), ("test", "test")):
        part = data[key]
        prepared = load_prepared(out, split)
        assert prepared.ids[0] == f"{key}/0"
        audio = np.asarray(prepared.arrays["audio"])
        assert np.isneginf(part["audio"]).any() and np.isfinite(audio).all()
        finite = np.isfinite(part["audio"])
        np.testing.assert_array_equal(audio[finite], part["audio"][finite])
        assert (audio[~finite] == 0).all()
        np.testing.assert_array_equal(np.asarray(prepared.arrays["video"]), part["vision"])
        np.testing.assert_array_equal(np.asarray(prepared.arrays["text"]), part["text"])
        labels = np.asarray(prepared.arrays["label"])
        assert labels.dtype == np.int64 and labels.shape == (len(part["labels"]), 4)
        np.testing.assert_array_equal(labels, part["labels"].argmax(-1))


def test_mosei_joins_dai_text_and_labels_to_mult_features_by_time(synthetic_raw, prepare_fake):
    raw = synthetic_raw("mosei")
    out, manifest = prepare_fake("mosei", raw)
    assert manifest["label_names"] == ["anger", "disgust", "fear", "happy", "sad", "surprise"]
    with open(raw / mosei.FEATURES, "rb") as handle:
        features = pickle.load(handle)
    with open(raw / mosei.META, "rb") as handle:
        meta = pickle.load(handle)
    by_time = {(str(v), round(float(s), 3), round(float(e), 3)): (key, row)
               for key in features for row, (v, s, e) in enumerate(features[key]["id"])}
    times = {}
    for path in (raw / mosei.TRANSCRIPT_DIRS[0]).glob("*.txt"):
        video = path.stem
        for line in path.read_text().splitlines():
            clip, start, end, _ = line[len(video) + 3:].split("___", 3)
            times[f"{video}_{clip}"] = (video, round(float(start), 3), round(float(end), 3))
    total_mult = sum(len(features[k]["id"]) for k in features)
    dai_total = 0
    for split, name in mosei.SPLIT_FILES.items():
        ids = (raw / name).read_text().split()
        dai_total += len(ids)
        data = load_prepared(out, split)
        assert data.ids == ids
        for i, uttr in enumerate(ids):
            key, row = by_time[times[uttr]]
            item = data[i]
            np.testing.assert_array_equal(item["video"].numpy(), features[key]["vision"][row])
            np.testing.assert_array_equal(item["audio"].numpy(), features[key]["audio"][row])
            np.testing.assert_array_equal(item["text"].numpy(), fake_text(meta[uttr]["text"], 32))
            assert item["label"].tolist() == [float(v) for v in meta[uttr]["label"]]
    assert dai_total < total_mult  # MuLT rows outside Dai's split are left out


def test_mosei_allow_unmatched_drops_and_counts(raw_copy, prepare_fake):
    raw = raw_copy("mosei")
    split = raw / mosei.SPLIT_FILES["train"]
    ids = split.read_text().split()
    video, _, clip = ids[0].rpartition("_")
    transcript = raw / mosei.TRANSCRIPT_DIRS[0] / f"{video}.txt"
    transcript.write_text("\n".join(l for l in transcript.read_text().splitlines()
                                    if not l.startswith(f"{video}___{clip}___")) + "\n")
    out, manifest = prepare_fake("mosei", raw, overrides=["mosei_allow_unmatched=true"])
    assert manifest["notes"]["dropped_unmatched"]["train"] == 1
    assert load_prepared(out, "train").ids == ids[1:]


def test_load_prepared_items_and_collate(synthetic_raw, prepare_fake):
    out, manifest = prepare_fake("iemocap_unaligned", synthetic_raw("iemocap_unaligned"))
    data = load_prepared(out, "train")
    batch = collate([data[0], data[1], data[2]])
    assert {k: tuple(v.shape) for k, v in batch.items()} == {"text": (3, 20, 300), "audio": (3, 40, 74),
                                                           "video": (3, 50, 35), "label": (3, 4)}
    assert batch["text"].dtype == torch.float32 and batch["label"].dtype == torch.int64
    assert isinstance(data.arrays["audio"], np.memmap)  # read lazily from disk
    assert read_manifest(out)["splits"]["train"]["n"] == len(data)
    loader = torch.utils.data.DataLoader(data, batch_size=4, collate_fn=collate)
    assert next(iter(loader))["video"].shape == (4, 50, 35)

"""Bad input: each gives one clear error of bpmult.data (naming the file, the key and what was
expected) and leaves no output behind, not even a staging folder."""

from __future__ import annotations

import json
import os
import pickle

import h5py
import numpy as np
import pytest

from bpmult.data import (CorruptFileError, DataError, LabelError, MissingFileError, NonFiniteError, ShapeError,
                         UnknownIdError, UnsafePickleError, load_prepared, prepare)
from bpmult.data import mmimdb, mosei, py2pickle
from bpmult.data.prepared import PreparedWriter


def _edit_pickle(path, edit):
    with open(path, "rb") as handle:
        data = pickle.load(handle)
    edit(data)
    with open(path, "wb") as handle:
        pickle.dump(data, handle, protocol=4)


class _Payload:
    def __reduce__(self):
        return (os.system, ("echo should-never-run",))


def _first_movie(raw):
    return json.loads((raw / "train.jsonl").read_text().splitlines()[0])["id"]


def missing_iemocap_file(raw):
    (raw / "iemocap_data.pkl").unlink()
    return MissingFileError, ["iemocap_data.pkl", "bpmult fetch iemocap"]


def truncated_pickle(raw):
    path = raw / "iemocap_data.pkl"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return CorruptFileError, ["iemocap_data.pkl", "expected a complete MuLT IEMOCAP pickle"]


def foreign_pickle(raw):
    path = raw / "iemocap_data.pkl"
    path.write_bytes(pickle.dumps({"train": _Payload()}, protocol=2))
    return UnsafePickleError, ["iemocap_data.pkl", "system", "refused"]


def missing_key(raw):
    _edit_pickle(raw / "iemocap_data.pkl", lambda d: d["valid"].pop("vision"))
    return DataError, ["iemocap_data.pkl", "'valid/vision'", "expected an array (n, T, 35)", "no such key"]


def wrong_width(raw):
    def edit(d):
        d["train"]["audio"] = d["train"]["audio"][:, :, :70]
    _edit_pickle(raw / "iemocap_data.pkl", edit)
    return ShapeError, ["iemocap_data.pkl", "train/audio", "(*, *, 74)", "70)"]


def nan_in_text(raw):
    def edit(d):
        d["test"]["text"][1, 3, 4] = np.nan
    _edit_pickle(raw / "iemocap_data.pkl", edit)
    return NonFiniteError, ["iemocap_data.pkl", "test/text", "finite", "nan"]


def pos_inf_in_audio(raw):
    def edit(d):
        d["train"]["audio"][0, -1, 2] = np.inf
    _edit_pickle(raw / "iemocap_data.pkl", edit)
    return NonFiniteError, ["iemocap_data.pkl", "train/audio", "finite values or -inf", "inf"]


def neg_inf_in_vision(raw):
    def edit(d):
        d["train"]["vision"][0, -1, 2] = -np.inf
    _edit_pickle(raw / "iemocap_data.pkl", edit)
    return NonFiniteError, ["iemocap_data.pkl", "train/vision", "expected finite values, found -inf"]


def not_one_hot(raw):
    def edit(d):
        d["train"]["labels"][2, 1] = (1.0, 1.0)
    _edit_pickle(raw / "iemocap_data.pkl", edit)
    return LabelError, ["iemocap_data.pkl", "train/labels[2, 1]", "one-hot"]


IEMOCAP_CASES = [missing_iemocap_file, truncated_pickle, foreign_pickle, missing_key, wrong_width, nan_in_text,
                 pos_inf_in_audio, neg_inf_in_vision, not_one_hot]


def moviescope_foreign_frames(raw):
    movie = _first_movie(raw)
    (raw / "200F_VGG16" / f"{movie}.p").write_bytes(pickle.dumps(_Payload(), protocol=2))
    return UnsafePickleError, [f"200F_VGG16/{movie}.p", "system"]


def moviescope_nan_poster(raw):
    movie = _first_movie(raw)
    poster = np.zeros((1, 4096), np.float32)
    poster[0, 7] = np.nan
    py2pickle.dump(poster, raw / "PosterFeatures" / f"{movie}.p")
    return NonFiniteError, [f"PosterFeatures/{movie}.p", "finite"]


def moviescope_wrong_frame_width(raw):
    movie = _first_movie(raw)
    py2pickle.dump(np.zeros((1, 20, 4095), np.float32), raw / "200F_VGG16" / f"{movie}.p")
    return ShapeError, [f"200F_VGG16/{movie}.p", "(*, 4096)", "(20, 4095)"]


def moviescope_missing_feature(raw):
    movie = _first_movie(raw)
    (raw / "Melspectrogram" / f"{movie}.p").unlink()
    return MissingFileError, [f"Melspectrogram/{movie}.p"]


def moviescope_unknown_genre(raw):
    lines = (raw / "dev.jsonl").read_text().splitlines()
    record = json.loads(lines[0])
    record["label"] = ["Western"]
    (raw / "dev.jsonl").write_text("\n".join([json.dumps(record), *lines[1:]]) + "\n")
    return LabelError, ["dev.jsonl", "line 1", "'label'", "Western"]


def moviescope_metadata_misses_a_movie(raw):
    path = raw / "Metadata_matrices" / "val_ids.pickle"
    rows = pickle.loads(path.read_bytes(), encoding="latin1")
    movie = json.loads((raw / "dev.jsonl").read_text().splitlines()[0])["id"]
    rows.pop(movie)
    py2pickle.dump(rows, path)
    return UnknownIdError, ["val_ids.pickle", str(movie), "dev.jsonl"]


def mmimdb_split_names_unknown_id(raw):
    path = raw / mmimdb.SPLIT_FILE
    splits = json.loads(path.read_text())
    splits["test"].append("9999999")
    path.write_text(json.dumps(splits))
    return UnknownIdError, ["split.json", "9999999"]


def mmimdb_poster_row_missing(raw):
    path = raw / mmimdb.HDF5_FILE
    with h5py.File(path, "a") as handle:
        ids = handle["imdb_ids"][()]
        ids[0] = b"0000000"
        handle["imdb_ids"][...] = ids
    return UnknownIdError, ["multimodal_imdb.hdf5", "imdb_ids"]


def mmimdb_record_without_plot(raw):
    movie = json.loads((raw / mmimdb.SPLIT_FILE).read_text())["dev"][0]
    path = raw / mmimdb.RECORDS / f"{movie}.json"
    record = json.loads(path.read_text())
    del record["plot"]
    path.write_text(json.dumps(record))
    return DataError, [f"{movie}.json", "'plot'", "plot summaries"]


def mmimdb_bad_glove_line(raw):
    path = raw / "glove.6B.300d.txt"
    lines = path.read_text().splitlines()
    word = lines[3].split(" ")[0]
    lines[3] = word + " 0.1 0.2"
    path.write_text("\n".join(lines) + "\n")
    return ShapeError, ["glove.6B.300d.txt", "line 4", "300 numbers"]


def mosei_split_names_unknown_id(raw):
    path = raw / mosei.SPLIT_FILES["test"]
    path.write_text(path.read_text() + "nosuchvideo_3\n")
    return UnknownIdError, ["meta.pkl", "nosuchvideo_3"]


def mosei_no_features_for_an_id(raw):
    def edit(d):
        for key in d:
            d[key]["id"] = np.array([[v + "x", s, e] for v, s, e in d[key]["id"]])
    _edit_pickle(raw / mosei.FEATURES, edit)
    return UnknownIdError, [mosei.FEATURES, "MuLT id", "mosei_allow_unmatched"]


def mosei_wrong_vision_width(raw):
    def edit(d):
        d["valid"]["vision"] = d["valid"]["vision"][:, :, :34]
    _edit_pickle(raw / mosei.FEATURES, edit)
    return ShapeError, [mosei.FEATURES, "valid/vision", "35"]


def mosei_label_not_binary(raw):
    uttr = (raw / mosei.SPLIT_FILES["train"]).read_text().split()[0]

    def edit(meta):
        meta[uttr]["label"] = [0, 2, 0, 0, 0, 0]
    _edit_pickle(raw / mosei.META, edit)
    return LabelError, ["meta.pkl", uttr, "values in {0, 1}"]


CASES = {"iemocap_aligned": IEMOCAP_CASES,
         "moviescope": [moviescope_foreign_frames, moviescope_nan_poster, moviescope_wrong_frame_width,
                        moviescope_missing_feature, moviescope_unknown_genre, moviescope_metadata_misses_a_movie],
         "mmimdb": [mmimdb_split_names_unknown_id, mmimdb_poster_row_missing, mmimdb_record_without_plot,
                    mmimdb_bad_glove_line],
         "mosei": [mosei_split_names_unknown_id, mosei_no_features_for_an_id, mosei_wrong_vision_width,
                   mosei_label_not_binary]}


@pytest.mark.parametrize("dataset,corrupt", [(d, c) for d, cs in CASES.items() for c in cs],
                         ids=[c.__name__ for cs in CASES.values() for c in cs])
def test_bad_input_gives_one_clear_error_and_no_output(dataset, corrupt, raw_copy, fake_encoder, tmp_path, capfd):
    raw = raw_copy(dataset)
    error, fragments = corrupt(raw)
    out = tmp_path / "prepared" / dataset
    with pytest.raises(error) as caught:
        prepare(dataset, raw, out, encoder=fake_encoder, cache_dir=None)
    assert isinstance(caught.value, (ValueError, FileNotFoundError))
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert not out.exists()
    leftovers = [p.name for p in out.parent.iterdir()] if out.parent.exists() else []
    assert leftovers == []  # no staging folder either
    assert "should-never-run" not in capfd.readouterr().out


def test_a_failed_prepare_keeps_the_previous_complete_output(raw_copy, fake_encoder, tmp_path):
    raw = raw_copy("iemocap_aligned")
    out = tmp_path / "prepared"
    prepare("iemocap_aligned", raw, out, encoder=fake_encoder, cache_dir=None)
    before = (out / "manifest.json").read_text()
    nan_in_text(raw)
    with pytest.raises(NonFiniteError):
        prepare("iemocap_aligned", raw, out, encoder=fake_encoder, cache_dir=None)
    assert (out / "manifest.json").read_text() == before
    assert len(load_prepared(out, "train")) > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["prepared", raw.name])  # no staging/old folders


def test_writer_discards_its_staging_folder_on_error(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="boom"):
        with PreparedWriter(out, dataset="x", task="multilabel", label_names=["a"]) as writer:
            writer.add_split("train", ["0"], {"text": (2, 3)}, (1,))
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_load_prepared_reports_missing_and_inconsistent_files(raw_copy, fake_encoder, tmp_path):
    raw = raw_copy("iemocap_aligned")
    out = tmp_path / "prepared"
    prepare("iemocap_aligned", raw, out, encoder=fake_encoder, cache_dir=None)
    with pytest.raises(MissingFileError, match="split 'validation'"):
        load_prepared(out, "validation")
    np.save(out / "dev" / "audio.npy", np.zeros((3, 20, 73), np.float32))
    with pytest.raises(ShapeError, match="audio"):
        load_prepared(out, "dev")
    (out / "test" / "video.npy").unlink()
    with pytest.raises(MissingFileError, match="video.npy"):
        load_prepared(out, "test")
    with pytest.raises(MissingFileError, match="manifest.json"):
        load_prepared(tmp_path / "nowhere", "train")

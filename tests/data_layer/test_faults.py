"""Issue 11, data layer: every bad input or fault through the console script gives exit code 2, ONE
line naming the file, the key and what was expected, no traceback, and leaves every other file on
disk as it was (compared by content digest before and after)."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from bpmult import cli
from bpmult.data import mmimdb, mosei, registry

from .conftest import FakeEncoder


def snapshot(root: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file (and '<dir>' for every folder) under ``root``."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        out[rel] = "<dir>" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture
def run(monkeypatch, capsys):
    """``run(argv) -> (code, stderr)`` through ``bpmult.cli.main`` with the fake text encoder."""
    monkeypatch.setattr(registry, "load_encoder", lambda *a, **k: FakeEncoder())

    def call(argv: list) -> tuple[int, str]:
        code = cli.main([str(a) for a in argv])
        return code, capsys.readouterr().err

    return call


def assert_one_line(err: str, *fragments: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line, got {err!r}"
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"


def prepare_argv(name, raw, out):
    return ["prepare", name, "--raw", raw, "--out", out, "--no-cache"]


# ---------------------------------------------------------------------------------------------
# bad input to prepare: refused before anything is written


def out_is_raw(raw, tmp):
    return raw, [str(raw), "--out", "is the raw folder"]


def out_inside_raw(raw, tmp):
    return raw / "prepared", [str(raw / "prepared"), "lies inside the raw folder"]


def out_contains_raw(raw, tmp):
    (tmp / "sub").mkdir()
    (tmp / "sub" / "thesis.txt").write_text("years of work")
    return tmp, ["contains the raw folder"]


def out_unrelated_folder(raw, tmp):
    (tmp / "mine").mkdir()
    (tmp / "mine" / "thesis.txt").write_text("years of work")
    return tmp / "mine", [str(tmp / "mine"), "an earlier prepared output", "refusing"]


def out_is_a_file(raw, tmp):
    (tmp / "notes.txt").write_text("keep me")
    return tmp / "notes.txt", [str(tmp / "notes.txt"), "a file; refusing"]


def out_foreign_manifest(raw, tmp):
    (tmp / "web").mkdir()
    (tmp / "web" / "manifest.json").write_text('{"name": "my web app"}')
    return tmp / "web", [str(tmp / "web"), "an earlier prepared output"]


OUT_CASES = [out_is_raw, out_inside_raw, out_contains_raw, out_unrelated_folder, out_is_a_file, out_foreign_manifest]


@pytest.mark.parametrize("case", OUT_CASES, ids=[c.__name__ for c in OUT_CASES])
def test_prepare_refuses_an_out_that_would_destroy_files(case, raw_copy, tmp_path, run):
    raw = raw_copy("iemocap_aligned")
    out, fragments = case(raw, tmp_path)
    before = snapshot(tmp_path)
    code, err = run(prepare_argv("iemocap_aligned", raw, out))
    assert code == 2
    assert_one_line(err, *fragments)
    assert snapshot(tmp_path) == before


def test_prepare_replaces_an_earlier_prepared_output(raw_copy, tmp_path, run):
    raw = raw_copy("iemocap_aligned")
    out = tmp_path / "prepared"
    assert run(prepare_argv("iemocap_aligned", raw, out))[0] == 0
    (out / "stale.txt").write_text("from an older format")
    assert run(prepare_argv("iemocap_aligned", raw, out))[0] == 0
    assert not (out / "stale.txt").exists()


def mmimdb_empty_glove(raw):
    (raw / "glove.6B.300d.txt").write_text("")
    return "mmimdb", ["glove.6B.300d.txt", "glove_coverage", "at least 50%", "found 0.0%"]


def mmimdb_foreign_glove(raw):
    words = [f"zzword{i}" for i in range(50)]
    (raw / "glove.6B.300d.txt").write_text("".join(w + " 0.1" * 300 + "\n" for w in words))
    return "mmimdb", ["glove.6B.300d.txt", "glove_coverage", "found 0.0%"]


def mmimdb_id_in_two_splits(raw):
    path = raw / mmimdb.SPLIT_FILE
    splits = json.loads(path.read_text())
    splits["test"].append(splits["train"][0])
    path.write_text(json.dumps(splits))
    return "mmimdb", ["split.json", f"test: {splits['train'][0]}", "each movie in one split only", "also in train"]


def moviescope_empty_dev(raw):
    (raw / "dev.jsonl").write_text("")
    return "moviescope", ["dev.jsonl", "'dev'", "at least one sample in every split", "an empty split"]


def iemocap_empty_test(raw):
    with open(raw / "iemocap_data.pkl", "rb") as handle:
        data = pickle.load(handle)
    data["test"] = {key: value[:0] for key, value in data["test"].items()}
    with open(raw / "iemocap_data.pkl", "wb") as handle:
        pickle.dump(data, handle, protocol=4)
    return "iemocap_aligned", ["iemocap_data.pkl", "'test'", "at least one sample"]


def iemocap_label_5(raw):
    with open(raw / "iemocap_data.pkl", "rb") as handle:
        data = pickle.load(handle)
    data["train"]["labels"][0, 2] = (0.0, 5.0)
    with open(raw / "iemocap_data.pkl", "wb") as handle:
        pickle.dump(data, handle, protocol=4)
    return "iemocap_aligned", ["iemocap_data.pkl", "train/labels[0, 2]", "one-hot", "5.0"]


def moviescope_non_utf8(raw):
    path = raw / "train.jsonl"
    path.write_bytes(path.read_bytes().replace(b"a", b"\xe9", 1))
    return "moviescope", ["train.jsonl", "expected UTF-8 text", "0xe9"]


def mosei_non_utf8_split(raw):
    path = raw / mosei.SPLIT_FILES["dev"]
    path.write_bytes(b"\xff\xfe" + path.read_bytes())
    return "mosei", ["valid_split.txt", "UTF-8", "0xff"]


def mmimdb_bad_json_record(raw):
    movie = json.loads((raw / mmimdb.SPLIT_FILE).read_text())["train"][1]
    (raw / mmimdb.RECORDS / f"{movie}.json").write_text('{"plot": [')
    return "mmimdb", [f"{movie}.json", "invalid JSON"]


def moviescope_empty_metadata_npy(raw):
    (raw / "Metadata_matrices" / "val_metadata.npy").write_bytes(b"")
    return "moviescope", ["val_metadata.npy", "a numeric .npy matrix", "an empty file"]


def moviescope_random_metadata_npy(raw):
    (raw / "Metadata_matrices" / "test_metadata.npy").write_bytes(np.random.default_rng(1).bytes(999))
    return "moviescope", ["test_metadata.npy", "a numeric .npy matrix"]


def bad_synthetic_marker(raw):
    (raw / "SYNTHETIC.json").write_text("{not json")
    return "iemocap_aligned", ["SYNTHETIC.json", "invalid JSON"]


RAW_CASES = [mmimdb_empty_glove, mmimdb_foreign_glove, mmimdb_id_in_two_splits, moviescope_empty_dev,
             iemocap_empty_test, iemocap_label_5, moviescope_non_utf8, mosei_non_utf8_split, mmimdb_bad_json_record,
             moviescope_empty_metadata_npy, moviescope_random_metadata_npy, bad_synthetic_marker]
_RAW_OF = {"mmimdb": "mmimdb", "moviescope": "moviescope", "iemocap": "iemocap_aligned", "mosei": "mosei",
           "bad": "iemocap_aligned"}


@pytest.mark.parametrize("case", RAW_CASES, ids=[c.__name__ for c in RAW_CASES])
def test_bad_raw_input_is_one_line_and_writes_nothing(case, raw_copy, tmp_path, run):
    raw = raw_copy(_RAW_OF[case.__name__.split("_")[0]])
    dataset, fragments = case(raw)
    before = snapshot(tmp_path)
    code, err = run(prepare_argv(dataset, raw, tmp_path / "prepared" / dataset))
    assert code == 2
    assert_one_line(err, *fragments)
    assert snapshot(tmp_path) == before  # no output, no staging folder, raw untouched


# ---------------------------------------------------------------------------------------------
# faults: a full disk, killed runs


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def _unsupported(*args):
    raise OSError(errno.EOPNOTSUPP, "no")


def _ten_bytes_free(path):
    return type("Usage", (), {"free": 10, "total": 10, "used": 0})()


@pytest.mark.parametrize("fallocate, disk_usage, expected", [
    # the file system can preallocate: the write itself fails
    (_no_space, None, (".bpmult-staging-iemocap.", ".npy", "no space left on the device")),
    # it cannot (e.g. some network file systems): the free space is compared before writing
    (_unsupported, _ten_bytes_free, (".npy", "no space left", "10 B free")),
], ids=["preallocation fails", "free space compared"])
def test_full_disk_during_prepare_is_one_line_naming_the_path(raw_copy, tmp_path, run, monkeypatch,
                                                              fallocate, disk_usage, expected):
    raw = raw_copy("iemocap_aligned")
    before = snapshot(tmp_path)
    monkeypatch.setattr(os, "posix_fallocate", fallocate)
    if disk_usage is not None:
        monkeypatch.setattr("shutil.disk_usage", disk_usage)
    code, err = run(prepare_argv("iemocap_aligned", raw, tmp_path / "prepared" / "iemocap"))
    assert code == 2
    assert_one_line(err, *expected)
    assert snapshot(tmp_path) == before


def test_full_disk_while_writing_the_text_cache(raw_copy, tmp_path, run, monkeypatch):
    raw = raw_copy("mosei")
    before = snapshot(tmp_path)
    real_mkstemp = __import__("tempfile").mkstemp

    def mkstemp(*args, **kwargs):
        if ".text_cache" in str(kwargs.get("dir", "")):
            _no_space()
        return real_mkstemp(*args, **kwargs)

    monkeypatch.setattr("tempfile.mkstemp", mkstemp)
    code, err = run(["prepare", "mosei", "--raw", raw, "--out", tmp_path / "prepared" / "mosei"])
    assert code == 2
    assert_one_line(err, ".text_cache", "no space left")
    # the cache folder may stay (a cache); nothing else: no output, no staging folder
    assert {k: v for k, v in snapshot(tmp_path).items() if ".text_cache" not in k and k != "prepared"} == before


def test_staging_folders_of_killed_prepares_are_removed_by_the_next_run(raw_copy, tmp_path, run):
    raw = raw_copy("iemocap_aligned")
    parent = tmp_path / "prepared"
    dead = parent / ".bpmult-staging-iemocap.999999999.abcd1234"  # no such process
    live = parent / f".bpmult-staging-other.{os.getppid()}.abcd1234"  # a running process: kept
    legacy = parent / ".iemocap.staging-x1y2z3"  # the older naming
    for folder in (dead, live, legacy):
        (folder / "train").mkdir(parents=True)
        (folder / "train" / "text.npy").write_bytes(b"half written")
    assert run(prepare_argv("iemocap_aligned", raw, parent / "iemocap"))[0] == 0
    assert sorted(p.name for p in parent.iterdir()) == sorted(["iemocap", live.name])


def test_dvc_ignores_the_staging_folders(tmp_path):
    import shutil
    import subprocess
    import sys

    from bpmult.atomic import STAGING_PREFIX

    pytest.importorskip("dvc")
    root = Path(__file__).resolve().parents[2]
    shutil.copy(root / ".dvcignore", tmp_path / ".dvcignore")
    subprocess.run([sys.executable, "-m", "dvc", "init", "--no-scm", "-q"], cwd=tmp_path, check=True)
    stage = tmp_path / "data" / "prepared" / f"{STAGING_PREFIX}mosei.123.ab" / "train"
    stage.mkdir(parents=True)
    (stage / "text.npy").write_bytes(b"half")
    (tmp_path / "data" / "prepared" / "mosei").mkdir()
    paths = [f"data/prepared/{STAGING_PREFIX}mosei.123.ab/train/text.npy", "data/prepared/mosei"]
    result = subprocess.run([sys.executable, "-m", "dvc", "check-ignore", "-d", *paths], cwd=tmp_path,
                            capture_output=True, text=True)
    assert paths[0] in result.stdout and "data/prepared/mosei\n" not in result.stdout


# ---------------------------------------------------------------------------------------------
# damaged prepared data: refused when loaded, naming the file


@pytest.fixture
def prepared(raw_copy, tmp_path, run):
    raw = raw_copy("iemocap_aligned")
    out = tmp_path / "prepared"
    assert run(prepare_argv("iemocap_aligned", raw, out))[0] == 0
    return out


def _load_error(out, split="train"):
    from bpmult.data import load_prepared

    with pytest.raises((ValueError, FileNotFoundError)) as caught:
        load_prepared(out, split)
    return str(caught.value)


def nan_in_video(out):
    array = np.load(out / "train" / "video.npy")
    array[1, 2, 3] = np.nan
    np.save(out / "train" / "video.npy", array)
    return ["train/video.npy", "video[1]", "expected finite values", "nan"]


def label_5(out):
    array = np.load(out / "train" / "label.npy")
    array[2, 1] = 5
    np.save(out / "train" / "label.npy", array)
    return ["train/label.npy", "label[2, 1]", "values in {0, 1}", "5"]


def label_dtype(out):
    np.save(out / "train" / "label.npy", np.load(out / "train" / "label.npy").astype(np.float64))
    return ["train/label.npy", "dtype int64", "float64"]


def empty_npy(out):
    (out / "train" / "audio.npy").write_bytes(b"")
    return ["train/audio.npy", "expected a .npy array", "an empty file"]


def random_npy(out):
    (out / "train" / "audio.npy").write_bytes(np.random.default_rng(0).bytes(4096))
    return ["train/audio.npy", "expected a .npy array"]


def bad_ids_json(out):
    (out / "train" / "ids.json").write_text('["train/0", ')
    return ["train/ids.json", "invalid JSON"]


def bad_manifest(out):
    (out / "manifest.json").write_bytes(b"\x80not json")
    return ["manifest.json", "invalid JSON"]


LOAD_CASES = [nan_in_video, label_5, label_dtype, empty_npy, random_npy, bad_ids_json, bad_manifest]


@pytest.mark.parametrize("case", LOAD_CASES, ids=[c.__name__ for c in LOAD_CASES])
def test_damaged_prepared_data_is_refused_when_loaded(case, prepared):
    fragments = case(prepared)
    before = snapshot(prepared)
    message = _load_error(prepared)
    assert "\n" not in message and str(prepared) in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert snapshot(prepared) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_npy_is_named(prepared):
    path = prepared / "train" / "audio.npy"
    path.chmod(0)
    try:
        message = _load_error(prepared)
    finally:
        path.chmod(0o644)
    assert "train/audio.npy" in message and "readable" in message


# ---------------------------------------------------------------------------------------------
# the text cache


class NaNEncoder(FakeEncoder):
    def encode(self, texts, max_tokens):
        return [np.full_like(states, np.nan) for states in super().encode(texts, max_tokens)]


def test_a_nan_text_cache_entry_is_recomputed_not_used(raw_copy, tmp_path, monkeypatch, capsys):
    from bpmult.data import load_prepared, prepare

    raw = raw_copy("mosei")
    cache = tmp_path / "cache"
    prepare("mosei", raw, tmp_path / "a", encoder=FakeEncoder(), cache_dir=cache)
    entries = sorted(cache.rglob("*.npy"))
    poisoned = entries[0]
    np.save(poisoned, np.full((3, 8), np.nan, np.float32))
    encoder = FakeEncoder()
    prepare("mosei", raw, tmp_path / "b", encoder=encoder, cache_dir=cache)
    assert len(encoder.encoded) == 1  # only the damaged entry was encoded again
    assert np.isfinite(np.load(poisoned)).all()  # and replaced
    for split in ("train", "dev", "test"):
        assert np.isfinite(np.asarray(load_prepared(tmp_path / "b", split).arrays["text"])).all()


def test_an_encoder_giving_nan_is_named(raw_copy, tmp_path, monkeypatch, run):
    raw = raw_copy("mosei")
    monkeypatch.setattr(registry, "load_encoder", lambda *a, **k: NaNEncoder())
    before = snapshot(tmp_path)
    code, err = run(prepare_argv("mosei", raw, tmp_path / "p"))
    assert code == 2
    assert_one_line(err, "text encoder fake", "expected finite token states")
    assert snapshot(tmp_path) == before


class InterruptingEncoder(FakeEncoder):
    def encode(self, texts, max_tokens):
        raise KeyboardInterrupt


def test_ctrl_c_during_prepare_leaves_the_previous_output_and_no_staging(raw_copy, tmp_path):
    from bpmult.data import prepare

    raw = raw_copy("mosei")
    out = tmp_path / "prepared" / "mosei"
    prepare("mosei", raw, out, encoder=FakeEncoder(), cache_dir=None)
    before = snapshot(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        prepare("mosei", raw, out, encoder=InterruptingEncoder(), cache_dir=None)
    assert snapshot(tmp_path) == before


def test_a_file_changed_after_a_good_load_is_checked_again(prepared):
    from bpmult.data import load_prepared

    assert len(load_prepared(prepared, "train")) > 0
    nan_in_video(prepared)
    assert "expected finite values" in _load_error(prepared)


def test_stage_cleanup_never_touches_other_hidden_folders(tmp_path):
    from bpmult.atomic import clean_stale_stages

    for name in (".git", ".thesis.staging-notes", ".other.old-1", ".bpmult-staging-x.999999999.ab"):
        (tmp_path / name).mkdir()
    removed = clean_stale_stages(tmp_path, "mosei")
    assert [p.name for p in removed] == [".bpmult-staging-x.999999999.ab"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".git", ".other.old-1", ".thesis.staging-notes"]

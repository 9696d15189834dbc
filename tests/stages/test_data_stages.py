"""The raw and prepare stages under each kind of profile, without the network."""

import hashlib

import pytest
import yaml

from bpmult.stages import data as stage_data
from bpmult.stages import paths
from bpmult.data.fetch import Source
from bpmult.data.place import PlaceError, place


def _params(tmp_path, profile, data):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"profile": profile, profile: {"seeds": [1], "data": data}}))
    return path


def test_paper_raw_stage_links_verified_hand_placed_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    placed = tmp_path / "data" / "manual" / "toy" / "a.bin"
    placed.parent.mkdir(parents=True)
    placed.write_bytes(b"real bytes")
    digest = hashlib.sha256(b"real bytes").hexdigest()
    monkeypatch.setattr("bpmult.data.registry.FETCH_TARGETS", {"toy": {"toy": (Source("a.bin", (), "by hand"),)}})
    monkeypatch.setattr("bpmult.data.fetch.read_lock", lambda *a: {"toy/a.bin": digest})
    params = _params(tmp_path, "paper", {"text_encoder": "bert-base-uncased"})
    stage_data.raw_stage("toy", tmp_path / "data" / "raw" / "toy", params_path=params)
    out = tmp_path / "data" / "raw" / "toy" / "a.bin"
    assert out.read_bytes() == b"real bytes"
    assert (tmp_path / "data" / "downloads" / "toy" / "a.bin").exists()  # persists outside DVC outputs


def test_paper_raw_stage_refuses_a_wrong_digest(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    placed = tmp_path / "data" / "manual" / "toy" / "a.bin"
    placed.parent.mkdir(parents=True)
    placed.write_bytes(b"tampered")
    monkeypatch.setattr("bpmult.data.registry.FETCH_TARGETS", {"toy": {"toy": (Source("a.bin", (), "by hand"),)}})
    monkeypatch.setattr("bpmult.data.fetch.read_lock", lambda *a: {"toy/a.bin": "0" * 64})
    params = _params(tmp_path, "paper", {})
    with pytest.raises(ValueError, match="sha256"):
        stage_data.raw_stage("toy", tmp_path / "data" / "raw" / "toy", params_path=params)
    assert not (tmp_path / "data" / "raw" / "toy").exists()


def test_raw_folder_choice_is_checked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = _params(tmp_path, "paper", {"raw_folder": {"moviescope": "nope"}})
    with pytest.raises(ValueError, match="raw_folder.moviescope"):
        stage_data.raw_stage("moviescope", tmp_path / "out", params_path=params)


def test_unknown_profile_names_the_valid_ones(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"profile": "fast", "embedded": {"seeds": [1]}}))
    with pytest.raises(ValueError, match="embedded"):
        paths.active_profile(yaml.safe_load(path.read_text()))


def test_a_hand_placed_folder_tree_behind_a_symlink_reaches_the_raw_folder(tmp_path, monkeypatch):
    # issue 9.1: users place big feature folders as links to another disk; every file must arrive
    monkeypatch.chdir(tmp_path)
    elsewhere = tmp_path / "big_disk" / "features"
    for i in range(3):
        (elsewhere / "sub" / f"{i}.p").parent.mkdir(parents=True, exist_ok=True)
        (elsewhere / "sub" / f"{i}.p").write_bytes(bytes([i]) * 100)
    (elsewhere / "top.p").write_bytes(b"top")
    manual = tmp_path / "data" / "manual" / "toy"
    manual.mkdir(parents=True)
    (manual / "200F_VGG16").symlink_to(elsewhere, target_is_directory=True)
    (manual / "train.jsonl").write_text('{"id": 1}\n')
    monkeypatch.setattr("bpmult.data.registry.FETCH_TARGETS", {"toy": {"toy": (
        Source("train.jsonl", (), "by hand"), Source("200F_VGG16", (), "by hand", kind="dir"))}})
    monkeypatch.setattr("bpmult.data.fetch.read_lock", lambda *a: {})
    params = _params(tmp_path, "paper", {"source": "fetch"})
    # DVC would not look inside the folder link: refused, with the command that links file by file
    with pytest.raises(PlaceError, match=r"^data/manual/toy/200F_VGG16: a link to a folder") as err:
        stage_data.raw_stage("toy", tmp_path / "data" / "raw" / "toy", params_path=params)
    assert not (tmp_path / "data" / "raw").exists()
    source, dest = str(err.value).rsplit("bpmult place ", 1)[1].split()
    assert (source, dest) == (str(elsewhere.resolve()), "data/manual/toy/200F_VGG16")
    place(source, dest)
    stage_data.raw_stage("toy", tmp_path / "data" / "raw" / "toy", params_path=params)
    raw = tmp_path / "data" / "raw" / "toy"
    got = sorted(str(p.relative_to(raw)) for p in raw.rglob("*") if p.is_file())
    assert got == ["200F_VGG16/sub/0.p", "200F_VGG16/sub/1.p", "200F_VGG16/sub/2.p", "200F_VGG16/top.p", "train.jsonl"]


def test_nothing_placed_lists_what_every_dataset_needs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"profile": "paper", "paper": {
        "seeds": [1], "data": {"source": "fetch"}}}))
    code = stage_data.main(["raw", "moviescope", "--out", str(tmp_path / "data" / "raw" / "moviescope")])
    err = capsys.readouterr().err
    assert code == 2 and "no raw file of 'moviescope'" in err
    for dataset in ("moviescope:", "mmimdb:", "iemocap:", "mosei:"):
        assert dataset in err
    assert "data/manual/mosei/Raw/Transcript/Segmented/Combined" in err
    assert not (tmp_path / "data" / "raw" / "moviescope").exists() or not any((tmp_path / "data" / "raw").rglob("*.p"))


def test_every_data_setting_of_the_profile_reaches_prepare(tmp_path):
    # issue 9.2: e.g. mosei_allow_unmatched, which MOSEI's own error message recommends
    config = stage_data.data_config("paper", {"source": "fetch", "mosei_allow_unmatched": True,
                                              "mmimdb_bow_vocab": 10000}, tmp_path)
    assert config.mosei_allow_unmatched is True and config.mmimdb_bow_vocab == 10000
    with pytest.raises(ValueError, match=r"paper\.data\.mosei_allow_unmatch: unknown data setting"):
        stage_data.data_section("paper", {"data": {"mosei_allow_unmatch": True}})

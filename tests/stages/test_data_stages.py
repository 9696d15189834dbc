"""The raw and prepare stages under each kind of profile, without the network."""

import hashlib

import pytest
import yaml

from bpmult.stages import data as stage_data
from bpmult.stages import paths
from bpmult.data.fetch import Source


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

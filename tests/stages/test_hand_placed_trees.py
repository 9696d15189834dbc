"""The raw stage of the fetch profiles brings hand-placed folder trees whole (issue 9, point 1).

The upstream files (tests/fixtures/upstream.py, real per-sample sizes) are placed as a user does:
``data/manual/<dataset>`` a symbolic link to a tree elsewhere, Moviescope's ``200F_VGG16`` a link
to a second disk. The stage runs as ``dvc.yaml`` runs it, on the ``paper-shapes`` profile.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from bpmult.data.errors import ChecksumError
from bpmult.stages import data as stages

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fixtures.upstream import SPLIT_SIZES, write_moviescope, write_mosei  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def placed(tmp_path, monkeypatch):
    params = re.sub(r"^profile: \S+", "profile: paper-shapes", (REPO / "params.yaml").read_text(), count=1,
                    flags=re.M)
    repo = tmp_path / "repo"
    (repo / "data" / "manual").mkdir(parents=True)
    (repo / "params.yaml").write_text(params)
    elsewhere = tmp_path / "elsewhere"
    write_moviescope(elsewhere / "moviescope", seed=1, frames_dir=elsewhere / "disk2" / "frames")
    write_mosei(elsewhere / "mosei", seed=2)
    for name in ("moviescope", "mosei"):
        (repo / "data" / "manual" / name).symlink_to(elsewhere / name, target_is_directory=True)
    monkeypatch.chdir(repo)
    monkeypatch.delenv("BPMULT_DATA_ROOT", raising=False)
    return repo, elsewhere


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file())


def test_linked_trees_arrive_whole_in_raw(placed):
    repo, elsewhere = placed
    stages.raw_stage("moviescope", repo / "data" / "raw" / "moviescope")
    stages.raw_stage("mosei", repo / "data" / "raw" / "mosei")
    raw = repo / "data" / "raw"
    n = sum(SPLIT_SIZES["moviescope"])
    assert _files(raw / "moviescope" / "200F_VGG16") == _files(elsewhere / "disk2" / "frames")
    assert len(_files(raw / "moviescope" / "200F_VGG16")) == n
    for folder in ("PosterFeatures", "Melspectrogram", "Metadata_matrices"):
        assert _files(raw / "moviescope" / folder) == _files(elsewhere / "moviescope" / folder), folder
    assert _files(raw / "moviescope") == ["dev.jsonl", "test.jsonl", "train.jsonl"]
    transcripts = "Raw/Transcript/Segmented/Combined"
    assert _files(raw / "mosei" / transcripts) == _files(elsewhere / "mosei" / transcripts) != []
    # real files in the raw folder (DVC caches them), not links back into data/manual
    frame = next((raw / "moviescope" / "200F_VGG16").iterdir())
    assert not frame.is_symlink()
    record = json.loads((repo / "data" / "downloads" / "fetch_record.json").read_text())
    assert record["moviescope/200F_VGG16"]["origin"] == "placed by hand"


def test_a_changed_hand_placed_file_is_refused_until_retrusted(placed):
    """Trust on first use: the placed tree's digest is recorded; a later change is an error
    naming the folder, not silently new data."""
    repo, elsewhere = placed
    stages.raw_stage("moviescope", repo / "data" / "raw" / "moviescope")
    frame = sorted((elsewhere / "disk2" / "frames").iterdir())[0]
    frame.write_bytes(frame.read_bytes()[:-4] + b"\x00\x00\x80\x3f")
    with pytest.raises(ChecksumError, match="200F_VGG16"):
        stages.raw_stage("moviescope", repo / "data" / "raw" / "moviescope")

"""The raw stage of the fetch profiles brings hand-placed folder trees whole (issue 9, point 1).

The upstream files (tests/fixtures/upstream.py, real per-sample sizes) are placed as a user does:
``data/manual/<dataset>`` a symbolic link to a tree elsewhere, Moviescope's ``200F_VGG16`` a link
to a second disk. The stage runs as ``dvc.yaml`` runs it, on the ``paper-shapes`` profile. DVC
follows the first link (the top of the stage's dependency ``data/manual/<dataset>``) but not the
nested folder link, so the stage refuses that one with the ``bpmult place`` command that replaces
it by file links; the user runs the command the message prints.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from bpmult.cli import main as bpmult
from bpmult.data.errors import ChecksumError
from bpmult.data.place import PlaceError
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


def _place_as_told(message: str) -> None:
    """Run the `bpmult place SOURCE DEST` command an error message ends with, as a user would."""
    command = message.rsplit("bpmult place ", 1)[1].split()
    assert len(command) == 2, message
    assert bpmult(["place", *command]) == 0


@pytest.fixture
def placed_and_fixed(placed):
    repo, _ = placed
    with pytest.raises(PlaceError) as err:
        stages.raw_stage("moviescope", repo / "data" / "raw" / "moviescope")
    _place_as_told(str(err.value))
    return placed


def test_a_nested_folder_link_is_refused_before_any_work_with_the_command_that_fixes_it(placed):
    repo, elsewhere = placed
    with pytest.raises(PlaceError) as err:
        stages.raw_stage("moviescope", repo / "data" / "raw" / "moviescope")
    message = str(err.value)
    link = Path("data/manual/moviescope/200F_VGG16")
    assert message.startswith(f"{link}: a link to a folder") and "\n" not in message
    assert message.endswith(f"bpmult place {(elsewhere / 'disk2' / 'frames').resolve()} {link}")
    assert not (repo / "data" / "raw").exists() and not (repo / "data" / "downloads").exists()
    _place_as_told(message)
    assert (elsewhere / "disk2" / "frames").is_dir()  # the data stayed where it is
    assert not (repo / link).is_symlink() and all(p.is_symlink() for p in (repo / link).iterdir())


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file())


def test_linked_trees_arrive_whole_in_raw(placed_and_fixed):
    repo, elsewhere = placed_and_fixed
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


def test_a_changed_hand_placed_file_is_refused_until_retrusted(placed_and_fixed):
    """Trust on first use: the placed tree's digest is recorded; a later change is an error
    naming the folder, not silently new data."""
    repo, elsewhere = placed_and_fixed
    stages.raw_stage("moviescope", repo / "data" / "raw" / "moviescope")
    frame = sorted((elsewhere / "disk2" / "frames").iterdir())[0]
    frame.write_bytes(frame.read_bytes()[:-4] + b"\x00\x00\x80\x3f")
    with pytest.raises(ChecksumError, match="200F_VGG16"):
        stages.raw_stage("moviescope", repo / "data" / "raw" / "moviescope")

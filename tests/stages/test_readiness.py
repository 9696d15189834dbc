"""`bpmult check-data`: before `dvc exp run -S profile=paper` rewrites params.yaml and stops at the
first missing file, say for every dataset what is still to place, which folder links DVC cannot
see into, and whether BERT is cached; change nothing (issue 13)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fixtures.upstream import tiny_bert, write_iemocap, write_mmimdb, write_moviescope, write_mosei  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    for name in ("moviescope", "moviescope_demo", "mmimdb", "iemocap", "mosei"):
        (repo / "data" / "manual" / name).mkdir(parents=True)
        (repo / "data" / "manual" / name / "README.md").write_text(name)
    (repo / "params.yaml").write_text((REPO / "params.yaml").read_text())
    return repo


def _check(repo: Path, *args: str, hub: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(hub or repo / "empty-hub"))
    env.pop("BPMULT_DATA_ROOT", None)
    return subprocess.run([str(BIN / "bpmult"), "check-data", *args], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=300)


def test_nothing_placed_lists_every_dataset_and_changes_nothing(tmp_path):
    repo = _repo(tmp_path)
    before = (repo / "params.yaml").read_bytes()
    result = _check(repo, "--profile", "paper")
    assert result.returncode == 2, result.stderr
    out = result.stdout
    for dataset in ("moviescope", "mmimdb", "iemocap", "mosei"):
        assert re.search(rf"^  {dataset}: ", out, flags=re.M), out
    assert "data/manual/moviescope/200F_VGG16" in out and "data/manual/mosei/MOSEI_RAW_PROCESSED/meta.pkl" in out
    assert "mmimdb: ready (3 file(s) to download by the raw stage)" in out
    assert "bpmult fetch bert-base-uncased" in out and out.rstrip().endswith("run this check again")
    assert (repo / "params.yaml").read_bytes() == before
    assert sorted(p.name for p in (repo / "data").iterdir()) == ["manual"]  # nothing fetched or written


def _folder_links(root: Path) -> list[Path]:
    return [Path(parent) / name for parent, dirs, _ in os.walk(root) for name in dirs
            if (Path(parent) / name).is_symlink()]


def test_placed_files_a_folder_link_and_a_cached_bert(tmp_path):
    repo = _repo(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    writers = {"moviescope": write_moviescope, "mmimdb": write_mmimdb, "iemocap": write_iemocap, "mosei": write_mosei}
    for seed, (name, write) in enumerate(writers.items()):
        write(elsewhere / name, seed=seed)
        for entry in sorted((elsewhere / name).iterdir()):  # the user links each upstream entry in
            (repo / "data" / "manual" / name / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    hub = tmp_path / "hub"
    tiny_bert(hub)
    result = _check(repo, "--profile", "paper", hub=hub)
    assert result.returncode == 2
    link = "data/manual/moviescope/200F_VGG16"
    assert f"moviescope: {link} is a folder link DVC does not look into; run: bpmult place " \
           f"{(elsewhere / 'moviescope' / '200F_VGG16').resolve()} {link}" in result.stdout
    assert "text encoder bert-base-uncased: in the Hugging Face cache" in result.stdout
    assert "place by hand" not in result.stdout
    for path in _folder_links(repo / "data" / "manual"):  # what the lines say to run
        assert subprocess.run([str(BIN / "bpmult"), "place", os.path.realpath(path), str(path)],
                              capture_output=True).returncode == 0
    result = _check(repo, "--profile", "paper", hub=hub)
    assert result.returncode == 0, result.stdout
    assert result.stdout.rstrip().endswith("ready: dvc exp run -S profile=paper")


def test_a_synthetic_profile_is_ready_and_an_unknown_one_is_one_line(tmp_path):
    repo = _repo(tmp_path)
    result = _check(repo)
    assert result.returncode == 0 and "synthetic data" in result.stdout
    result = _check(repo, "--profile", "nope")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1 and "'nope'" in result.stderr

"""The paper profile's path at real per-sample sizes: `dvc exp run -S profile=paper-shapes`.

A fresh copy of the repository gets every dataset in its upstream format (tests/fixtures/upstream.py,
written without bpmult) placed the way a user places it: the trees on another "disk", linked from
``data/manual/<dataset>``, one feature folder itself a link; and a random 768-wide
``bert-base-uncased`` in a Hugging Face cache. Then the whole DAG runs through the paper profile's
code paths (fetch with trust on first use, authors definition, BERT fine-tuned inside the model,
BoW 512, per-batch spectrogram crop) with tiny models, and the tests check what arrived where.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from fixtures.upstream import SPLIT_SIZES, place_all, tiny_bert

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PROFILE = "paper-shapes"
pytestmark = pytest.mark.slow


def _env(hub: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(HF_HUB_CACHE=str(hub), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env.pop("BPMULT_DATA_ROOT", None)
    return env


class Copy:
    def __init__(self, root: Path, elsewhere: Path, hub: Path, sizes: dict, seconds: float, output: str):
        self.root, self.elsewhere, self.hub, self.sizes, self.seconds, self.output = (
            root, elsewhere, hub, sizes, seconds, output)

    def run(self, *args: str, timeout: int = 1800) -> subprocess.CompletedProcess:
        return subprocess.run(list(args), cwd=self.root, env=_env(self.hub), capture_output=True, text=True,
                              timeout=timeout)

    def dvc(self, *args: str, timeout: int = 1800) -> subprocess.CompletedProcess:
        return self.run(str(BIN / "dvc"), *args, timeout=timeout)


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def _commit(root: Path, message: str) -> None:
    _git(root, "add", "-A")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message)


def _folder_links(root: Path) -> list[Path]:
    return [Path(parent) / name for parent, dirs, _ in os.walk(root) for name in dirs
            if (Path(parent) / name).is_symlink()]


@pytest.fixture(scope="session")
def shapes_repo(tmp_path_factory) -> Copy:
    """A copy of the working tree, the upstream files placed, after `dvc exp run -S profile=paper-shapes`."""
    base = tmp_path_factory.mktemp("paper-shapes")
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split()
    dest = base / "repo"
    for rel in files:
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    sizes = place_all(dest / "data" / "manual", base / "elsewhere", seed=0)
    hub = base / "hub"
    tiny_bert(hub)
    _git(dest, "init", "-q")
    _commit(dest, "paper-shapes")
    copy = Copy(dest, base / "elsewhere", hub, sizes, 0.0, "")
    # folder links are invisible to DVC: the raw stage refuses them and says to run `bpmult place`
    for link in _folder_links(dest / "data" / "manual"):
        placed = copy.run(str(BIN / "bpmult"), "place", os.path.realpath(link), str(link.relative_to(dest)))
        assert placed.returncode == 0, placed.stderr
    start = time.monotonic()
    result = copy.dvc("exp", "run", "-S", f"profile={PROFILE}")
    copy.seconds, copy.output = time.monotonic() - start, result.stdout + result.stderr
    print(f"\npaper-shapes: dvc exp run took {copy.seconds:.0f} s")
    if result.returncode != 0:
        pytest.fail(f"dvc exp run failed (rc {result.returncode}):\n{result.stdout[-6000:]}\n{result.stderr[-4000:]}")
    _commit(dest, "repro")
    return copy


def _counts(folder: Path) -> int:
    return sum(1 for p in folder.iterdir() if p.is_file())


def test_hand_placed_trees_arrive_whole_in_raw(shapes_repo):
    n_movies = sum(SPLIT_SIZES["moviescope"])
    raw = shapes_repo.root / "data" / "raw"
    for folder in ("200F_VGG16", "PosterFeatures", "Melspectrogram"):
        assert _counts(raw / "moviescope" / folder) == n_movies, folder
    assert _counts(raw / "moviescope" / "Metadata_matrices") == 6
    videos = {line.split("___")[0] for p in (shapes_repo.elsewhere / "datasets" / "mosei" / "Raw").rglob("*.txt")
              for line in p.read_text().splitlines()}
    assert _counts(raw / "mosei" / "Raw" / "Transcript" / "Segmented" / "Combined") == len(videos)
    assert (raw / "mmimdb" / "mmimdb" / "split.json").is_file()
    assert _counts(raw / "mmimdb" / "mmimdb" / "dataset") == 2 * sum(SPLIT_SIZES["mmimdb"])
    assert {p.name for p in (raw / "iemocap").iterdir()} >= {"iemocap_data.pkl", "iemocap_data_noalign.pkl"}
    record = json.loads((shapes_repo.root / "data" / "downloads" / "fetch_record.json").read_text())
    assert record["moviescope/200F_VGG16"]["origin"] == "placed by hand"


def _prepared(repo: Copy, dataset: str, split: str, name: str) -> np.ndarray:
    return np.load(repo.root / "data" / "prepared" / dataset / split / f"{name}.npy", mmap_mode="r")


def test_prepared_arrays_have_the_real_shapes(shapes_repo):
    n_train = SPLIT_SIZES["moviescope"][0]
    assert _prepared(shapes_repo, "moviescope", "train", "video").shape == (n_train, 200, 4096)
    assert _prepared(shapes_repo, "moviescope", "train", "poster").shape == (n_train, 4096)
    assert _prepared(shapes_repo, "moviescope", "train", "metadata").shape == (n_train, 312)
    ids = _prepared(shapes_repo, "moviescope", "train", "text_ids")
    assert ids.shape == (n_train, 512) and ids.dtype == np.int64
    assert _prepared(shapes_repo, "moviescope", "train", "text_mask").sum(axis=1).max() == 512  # long plots cut
    # every spectrogram keeps its own length: the batch crop needs the true ones
    lengths = _prepared(shapes_repo, "moviescope", "train", "audio_length")
    audio = _prepared(shapes_repo, "moviescope", "train", "audio")
    # stored padded to the longest spectrogram of the whole dataset (any split), never cut
    assert audio.shape[2] == 96 and audio.shape[1] >= int(max(lengths)) and len(set(lengths.tolist())) == n_train
    assert min(lengths) >= 1800
    assert _prepared(shapes_repo, "mmimdb", "train", "audio").shape[1:] == (512, 1)
    assert _prepared(shapes_repo, "mmimdb", "train", "video").shape[1:] == (512, 300)
    assert _prepared(shapes_repo, "mmimdb", "train", "poster").shape[1:] == (4096,)
    assert _prepared(shapes_repo, "mmimdb", "train", "text_ids").shape[1:] == (512,)
    assert _prepared(shapes_repo, "mosei", "train", "video").shape[1:] == (500, 35)
    assert _prepared(shapes_repo, "mosei", "train", "audio").shape[1:] == (500, 74)
    assert _prepared(shapes_repo, "mosei", "train", "text_ids").shape[1:] == (128,)
    assert _prepared(shapes_repo, "iemocap_unaligned", "train", "audio").shape[1:] == (400, 74)
    assert _prepared(shapes_repo, "iemocap_unaligned", "train", "video").shape[1:] == (500, 35)
    assert _prepared(shapes_repo, "iemocap_aligned", "train", "text").shape[1:] == (20, 300)
    for dataset in ("moviescope", "mmimdb", "mosei"):
        manifest = json.loads((shapes_repo.root / "data" / "prepared" / dataset / "manifest.json").read_text())
        assert manifest["text_encoder"]["name"] == "bert-base-uncased", dataset
        assert manifest["text_encoder"]["features"] == "token_ids", dataset
        assert manifest["config"]["mmimdb_bow_vocab"] == 512
        assert manifest["config"]["moviescope_audio_crop"] == "batch_shortest"


def _numbers(value, path=""):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _numbers(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _numbers(item, f"{path}[{i}]")
    elif isinstance(value, float):
        yield path, value


def test_every_run_has_finite_metrics_of_the_authors_definition(shapes_repo):
    runs = yaml.safe_load((shapes_repo.root / "dvc.yaml").read_text())["vars"][0]["runs"]
    for key in runs:
        metrics = json.loads((shapes_repo.root / "metrics" / "runs" / f"{key}.json").read_text())
        assert metrics["definition"] == "authors", key
        values = list(_numbers(metrics))
        assert values, key
        bad = [(p, v) for p, v in values if not math.isfinite(v)]
        assert not bad, (key, bad)
        summary = json.loads((shapes_repo.root / "runs" / key / "summary.json").read_text())
        assert summary, key
        # keep_weights: best_seed (the paper profile's): one seed keeps best.pt, recorded
        record = json.loads((shapes_repo.root / "runs" / key / "weights.json").read_text())
        assert record["policy"] == "best_seed" and (shapes_repo.root / "runs" / key / f"seed_{record['kept']}" /
                                                    "best.pt").is_file(), key


def test_report_is_written_and_marked_synthetic(shapes_repo):
    reports = shapes_repo.root / "reports"
    index = (reports / "index.html").read_text()
    assert "SYNTHETIC" in index
    # fetched made-up files, not `bpmult synth`: the banner says which
    assert "placed like the real" in index and "written by <code>bpmult synth</code>" not in index
    assert (reports / "tables.html").is_file() and (reports / "figures.html").is_file()
    assert len(list((reports / "train").glob("*.html"))) == 26
    assert json.loads((shapes_repo.root / "metrics" / "claims.json").read_text())


def _changed(status: str) -> set[str]:
    return {line[:-1].strip() for line in status.splitlines() if line.endswith(":") and not line.startswith(("\t", " "))}


def test_status_is_clean_then_a_changed_hand_placed_file_marks_raw_changed(shapes_repo):
    status = shapes_repo.dvc("status", "dvc.yaml")
    assert status.returncode == 0 and "up to date" in status.stdout, status.stdout
    # a file behind the nested link (data/manual/moviescope/200F_VGG16 -> tree/200F_VGG16 -> second
    # disk), placed as file links by `bpmult place`
    frame = sorted((shapes_repo.elsewhere / "second-disk" / "moviescope-frames").iterdir())[0]
    original = frame.read_bytes()
    try:
        frame.write_bytes(original[:-4] + b"\x00\x00\x80\x3f")
        changed = _changed(shapes_repo.dvc("status", "dvc.yaml").stdout)
        assert "raw@moviescope" in changed, changed
        assert not {s for s in changed if s.startswith("raw@") and s != "raw@moviescope"}, changed
    finally:
        frame.write_bytes(original)
    assert "up to date" in shapes_repo.dvc("status", "dvc.yaml").stdout


def test_a_temporary_experiment_finds_the_main_checkouts_data_offline(shapes_repo):
    """`dvc exp run --temp` copies only what git tracks: no data/manual, no data/downloads. The raw
    stage must find the main checkout's downloads (bpmult.stages.paths.data_root), not download."""
    result = shapes_repo.dvc("exp", "run", "--temp", "-S", "paper-shapes.data.mmimdb_bow_vocab=256",
                             "prepare@iemocap_aligned", timeout=900)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "cannot reach" not in output and "fetched" not in output, output[-4000:]

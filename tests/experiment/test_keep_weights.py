"""``keep_weights: best_seed`` (issue 9, point 5): once every seed finished, only the seed with the
best dev selection metric keeps ``best.pt``; the rest of every seed stays; loading a removed seed
says why; the policy is validated with its params path."""

from __future__ import annotations

import json

import pytest

from bpmult import experiment as X
from bpmult.train.retention import apply_policy

from test_train import write_prepared

MODEL = {"d_model": 8, "num_heads": 2, "layers": 1, "parallel_len": 4, "parallel_layers": 1,
         "audio_encoder_kernel": 4, "audio_encoder_stride": 2, "audio_encoder_len": 6}


def _params(policy):
    section = {"seeds": [1, 2, 3], "moviescope": {"model": MODEL, "train": {"batch_size": 16, "max_epochs": 2}}}
    if policy is not None:
        section["keep_weights"] = policy
    return {"profile": "p", "p": section}


@pytest.fixture(scope="module")
def movie_dir(tmp_path_factory):
    return write_prepared(tmp_path_factory.mktemp("keep") / "prepared",
                          shapes={"text": [10, 12], "video": [8, 6], "audio": [16, 5], "poster": [9]})


def _dev(run, seed):
    return json.loads((run / f"seed_{seed}" / "metrics.json").read_text())["dev"]["ap_micro"]


def test_best_seed_keeps_one_best_pt_and_every_other_artifact(movie_dir, tmp_path):
    run = tmp_path / "run"
    summary = X.train_seeds(movie_dir, "bpmult", run, params=_params("best_seed"), progress=False)
    devs = {s: _dev(run, s) for s in (1, 2, 3)}
    best = max(devs, key=lambda s: (devs[s], -s))
    assert [s for s in (1, 2, 3) if (run / f"seed_{s}" / "best.pt").is_file()] == [best]
    assert X.trained_seeds(run) == [best]
    for seed in (1, 2, 3):  # everything the report reads stays
        names = {p.name for p in (run / f"seed_{seed}").iterdir()}
        assert {"metrics.json", "predictions.npz", "analysis.npz", "config.json", "history.csv"} <= names
        assert ("best.pt" in names) == (seed == best) and ("best.pt.sha256" in names) == (seed == best)
    record = json.loads((run / "weights.json").read_text())
    assert record["kept"] == best and record["removed"] == sorted({1, 2, 3} - {best})
    assert summary["seeds"] == [1, 2, 3] and summary["test"]["ap_micro"]["n"] == 3
    assert X.load_trained(run).seed == best
    removed = min({1, 2, 3} - {best})
    with pytest.raises(FileNotFoundError, match=f"seed_{removed}/best.pt: missing; its weights were removed after "
                       f"training \\(keep_weights: best_seed kept seed {best}'s\\)"):
        X.load_trained(run, seed=removed)
    # a rerun of the finished stage (resume) trains nothing and keeps the same seed
    again = X.train_seeds(movie_dir, "bpmult", run, params=_params("best_seed"), progress=False, resume="auto")
    assert again == summary and X.trained_seeds(run) == [best]


def test_all_is_the_default_and_keeps_every_seed(movie_dir, tmp_path):
    run = tmp_path / "run"
    X.train_seeds(movie_dir, "bpmult", run, params=_params(None), progress=False, seeds=[1, 2])
    assert X.trained_seeds(run) == [1, 2] and not (run / "weights.json").exists()


def test_an_unknown_policy_names_its_params_path(movie_dir, tmp_path):
    with pytest.raises(ValueError, match=r"params p.keep_weights: expected one of \['all', 'best_seed'\], "
                                         r"found 'latest'"):
        X.train_seeds(movie_dir, "bpmult", tmp_path / "run", params=_params("latest"), progress=False)
    assert not (tmp_path / "run").exists()


def test_ties_keep_the_lowest_seed_and_a_missing_best_is_an_error(tmp_path):
    for seed, score in ((1, 0.5), (2, 0.7), (3, 0.7)):
        folder = tmp_path / f"seed_{seed}"
        folder.mkdir()
        (folder / "metrics.json").write_text(json.dumps({"dev": {"ap_micro": score}}))
        (folder / "best.pt").write_bytes(b"w")
    assert apply_policy(tmp_path, [1, 2, 3], "best_seed", "ap_micro")["kept"] == 2
    assert sorted(p.parent.name for p in tmp_path.glob("seed_*/best.pt")) == ["seed_2"]
    (tmp_path / "seed_2" / "best.pt").unlink()
    with pytest.raises(FileNotFoundError, match="seed_2/best.pt: missing"):
        apply_policy(tmp_path, [1, 2, 3], "best_seed", "ap_micro")

"""Experiments: validation before any file is touched, resuming stages, one trainer per folder,
loading a trained model back, evaluate / predict."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from bpmult import cli
from bpmult import experiment as X
from bpmult.train.lock import RunLockedError, run_lock

from test_train import write_prepared

PARAMS = {"profile": "t", "t": {"seeds": [1, 2], "data": {"source": "synth"}, "moviescope": {
    "model": {"d_model": 8, "num_heads": 2, "layers": 1, "parallel_len": 4, "parallel_layers": 1,
              "audio_encoder_kernel": 4, "audio_encoder_stride": 2, "audio_encoder_len": 4},
    "train": {"batch_size": 16, "max_epochs": 2, "patience": 5}}}}
SHAPES = {"text": [6, 5], "video": [4, 3], "audio": [12, 2], "poster": [7]}


@pytest.fixture
def data(tmp_path):
    return write_prepared(tmp_path / "prepared", shapes=SHAPES)


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("override,where", [
    ("train.lr=fast", "--set train.lr=fast: must be a positive finite number"),
    ("train.lr=inf", "--set train.lr=inf: must be a positive finite number"),
    ("train.lr=1e999", "--set train.lr=1e999: must be a positive finite number"),
    ("train.lr=nan", "--set train.lr=nan: must be a positive finite number"),
    ("model.d_model=15", "not divisible by num_heads"),
    ("model.num_heads=0", "--set model.num_heads=0: must be a positive integer"),
    ("model.layers=-1", "--set model.layers=-1: must be a positive integer"),
    ("model.attn_dropout=1.5", "--set model.attn_dropout=1.5: must lie in [0, 1)"),
    ("train.clip=-1", "--set train.clip=-1: must be None or a positive finite number"),
])
def test_a_bad_setting_fails_before_the_finished_run_is_touched(data, tmp_path, capsys, override, where):
    params = tmp_path / "params.yaml"
    params.write_text(json.dumps(PARAMS))
    run = tmp_path / "run"
    argv = ["train", "--model", "bpmult", "--data", str(data), "--out", str(run), "--params", str(params),
            "--no-progress", "--seeds", "1"]
    assert cli.main(argv) == 0
    before = _snapshot(run)
    assert cli.main([*argv, "--set", override]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and where in err[0], err
    assert _snapshot(run) == before  # the finished run is intact, byte for byte


def test_errors_name_the_params_path_of_the_bad_value(data):
    params = json.loads(json.dumps(PARAMS))
    params["t"]["moviescope"]["train"]["lr"] = "fast"
    with pytest.raises(ValueError, match=r"^t\.moviescope\.train\.lr: must be a positive finite number; got 'fast'"):
        X.plan(data, "bpmult", params=params)
    params["t"]["moviescope"]["train"]["lr"] = 0.001
    params["t"]["moviescope"]["model"]["attn_dropout"] = 2.0
    with pytest.raises(ValueError, match=r"^t\.moviescope\.model\.attn_dropout: must lie in \[0, 1\)"):
        X.plan(data, "bpmult", params=params)


def test_auto_resume_keeps_finished_seeds_and_retrains_stale_ones(data, tmp_path):
    run = tmp_path / "run"
    exp = X.plan(data, "bpmult", params=PARAMS)
    first = X.train_experiment(exp, run, resume="auto", progress=False)
    stamp = {s: (run / f"seed_{s}" / "metrics.json").stat().st_mtime_ns for s in (1, 2)}
    # an interrupted seed 2: its metrics are gone, as if the stage was killed before the end
    (run / "seed_2" / "metrics.json").unlink()
    again = X.train_experiment(exp, run, resume="auto", progress=False)
    assert (run / "seed_1" / "metrics.json").stat().st_mtime_ns == stamp[1]  # kept, not retrained
    assert again["test"]["ap_micro"] == first["test"]["ap_micro"]
    # other settings: every seed starts over (a persisted DVC output must not serve stale results)
    changed = X.plan(data, "bpmult", params=PARAMS, overrides=["train.lr=0.002"])
    X.train_experiment(changed, run, resume="auto", progress=False)
    config = json.loads((run / "seed_1" / "config.json").read_text())
    assert config["train"]["lr"] == 0.002


def test_a_second_trainer_in_the_same_folder_fails_at_once(data, tmp_path, capsys):
    run = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from bpmult.train.lock import run_lock
        with run_lock({str(run)!r}):
            print("locked", flush=True)
            time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        params = tmp_path / "params.yaml"
        params.write_text(json.dumps(PARAMS))
        code = cli.main(["train", "--model", "bpmult", "--data", str(data), "--out", str(run), "--params",
                         str(params), "--no-progress"])
        err = capsys.readouterr().err.strip()
        assert code == 2 and "another trainer" in err and str(run) in err and len(err.splitlines()) == 1
        assert not (run / "seed_1").exists()
    finally:
        holder.kill()
        holder.wait(timeout=30)
    with run_lock(run):  # released when its holder died
        pass
    with run_lock(run), pytest.raises(RunLockedError):
        with run_lock(run):
            pass


def test_load_trained_rebuilds_the_model_and_evaluate_predict_reproduce_the_test_metrics(data, tmp_path, capsys):
    run = tmp_path / "run"
    summary = X.train_experiment(X.plan(data, "bpmult", params=PARAMS, seeds=[1]), run, progress=False)
    trained = X.load_trained(run)
    assert trained.seed == 1 and trained.config.d_model == 8
    batch = {k: torch.zeros(2, *v) for k, v in SHAPES.items()}
    assert trained.model(batch).shape == (2, 3)
    assert cli.main(["evaluate", str(run), "--data", str(data)]) == 0
    out = capsys.readouterr().out
    assert f"ap_micro: {summary['test']['ap_micro']['mean']:.2f}" in out
    preds = tmp_path / "preds.npz"
    assert cli.main(["predict", str(run), "--data", str(data), "--out", str(preds), "--split", "dev"]) == 0
    with np.load(preds) as p, np.load(run / "seed_1" / "predictions.npz") as stored:
        assert p["probs"].shape == (16, 3) and list(p["ids"]) == [f"dev{i:03d}" for i in range(16)]
        assert stored["probs"].shape == (16, 3)
    other = write_prepared(tmp_path / "other", shapes={**SHAPES, "video": [4, 9]})
    assert cli.main(["evaluate", str(run), "--data", str(other)]) == 2
    assert "orig_d_video=3" in capsys.readouterr().err
    assert cli.main(["evaluate", str(tmp_path / "nothing"), "--data", str(data)]) == 2
    assert "no seed_<s>/best.pt" in capsys.readouterr().err


def test_the_profile_definition_sets_the_model_and_training_and_the_profile_still_wins(data):
    params = json.loads(json.dumps(PARAMS))
    params["t"]["definition"] = "authors"
    exp = X.plan(data, "bpmult", params=params)
    assert exp.definition == "authors" and exp.model.token == "first_plus_last"
    assert exp.model.len_text == 512 and exp.model.len_video == 200  # the authors' fixed lengths
    assert exp.model.d_model == 8  # the profile's size
    assert exp.train.amp is False and exp.train.early_stop_ties is True
    params["t"]["moviescope"]["train"]["amp"] = True
    assert X.plan(data, "bpmult", params=params).train.amp is True  # the profile wins over the definition
    params["t"]["definition"] = "paper"
    faithful = X.plan(data, "bpmult_with_transformer", params=params)
    assert faithful.model.middle_fgmu and faithful.model.level1_residual  # only the top FGMU replaced (§7.4)
    params["t"]["definition"] = "code"
    with pytest.raises(ValueError, match=r"params t\.definition: 'code'; expected one of \['authors', 'paper'\]"):
        X.plan(data, "bpmult", params=params)


def test_every_run_records_its_definition(data, tmp_path):
    params = json.loads(json.dumps(PARAMS))
    params["t"]["definition"] = "paper"
    summary = X.train_experiment(X.plan(data, "bpmult", params=params, seeds=[1]), tmp_path / "run", progress=False)
    assert summary["definition"] == "paper"


def test_ctrl_c_and_a_full_disk_during_training_are_one_line_each(data, tmp_path, capsys, monkeypatch):
    import errno

    from bpmult.experiment import commands
    from bpmult.train import checkpoint as ckpt

    params = tmp_path / "params.yaml"
    params.write_text(json.dumps(PARAMS))
    argv = ["train", "--model", "bpmult", "--data", str(data), "--out", str(tmp_path / "run"), "--params", str(params),
            "--no-progress", "--seeds", "1"]

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(commands, "train_seeds", interrupted)
    assert cli.main(argv) == 130
    assert capsys.readouterr().err.strip() == "bpmult train: interrupted; rerun the same command with --resume to continue"
    monkeypatch.undo()

    def full_disk(path, obj):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(ckpt, "save_verified", full_disk)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no space left on the device while writing" in err[0] and "best.pt" in err[0], err

"""A run killed with SIGKILL and restarted with ``--resume`` ends bit-identical to an uninterrupted one.

Real processes (``python -m bpmult.cli train``), the real BPMuLT model and data loader: the
checkpoint must carry the weights, optimizer, scheduler, counters, history and RNG states, and the
shuffle of every epoch must not depend on how many epochs this process has run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from bpmult import cli

from test_train import write_prepared

MAX_EPOCHS = 3
PARAMS = {
    "profile": "resume",
    "resume": {
        "seeds": [1],
        "moviescope": {
            "model": {"d_model": 8, "num_heads": 2, "layers": 1, "parallel_len": 4, "parallel_layers": 1,
                      "audio_encoder_kernel": 4, "audio_encoder_stride": 2, "audio_encoder_len": 6},
            "train": {"batch_size": 8, "lr": 0.003, "max_epochs": MAX_EPOCHS, "patience": 100},
        },
    },
}


def _command(data: Path, params: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "bpmult.cli", "train", "--dataset", "moviescope", "--model", "bpmult",
            "--data", str(data), "--out", str(out), "--params", str(params), "--seeds", "1", "--no-progress",
            *extra]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}


def _run(cmd: list[str]) -> None:
    result = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def test_killed_run_resumes_bit_identically(tmp_path):
    data = write_prepared(tmp_path / "prepared", sizes=(96, 24, 24),
                          shapes={"text": [10, 12], "video": [8, 6], "audio": [16, 5], "poster": [9]})
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(PARAMS))
    reference, killed = tmp_path / "reference", tmp_path / "killed"

    # the uninterrupted reference runs in this process (1 thread, like the children): the check
    # also covers reproducibility across processes
    assert cli.main(_command(data, params, reference)[3:]) == 0

    process = subprocess.Popen(_command(data, params, killed), env=_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    checkpoint = killed / "seed_1" / "checkpoint.pt"
    deadline = time.monotonic() + 240
    while not checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    time.sleep(0.05)  # into the second epoch
    still_running = process.poll() is None
    process.send_signal(signal.SIGKILL)
    _, stderr = process.communicate(timeout=60)
    assert still_running, f"the run ended before it could be killed; make it longer\n{stderr.decode()[-2000:]}"
    assert process.returncode == -signal.SIGKILL
    epoch_at_kill = torch.load(checkpoint, weights_only=True)["epoch"]
    assert 1 <= epoch_at_kill < MAX_EPOCHS
    assert not (killed / "seed_1" / "metrics.json").exists()

    _run(_command(data, params, killed, "--resume"))

    ref, res = (json.loads((d / "seed_1" / "metrics.json").read_text()) for d in (reference, killed))
    ref.pop("train_seconds"), res.pop("train_seconds")
    assert res == ref  # every dev and test metric, best epoch, epochs: exactly equal
    assert (killed / "seed_1" / "history.csv").read_text() == (reference / "seed_1" / "history.csv").read_text()
    for name in ("predictions.npz", "analysis.npz"):
        with np.load(reference / "seed_1" / name) as a, np.load(killed / "seed_1" / name) as b:
            assert a.files == b.files
            for key in a.files:
                np.testing.assert_array_equal(a[key], b[key], err_msg=f"{name}:{key}")
    best_ref = torch.load(reference / "seed_1" / "best.pt", weights_only=True)["model"]
    best_res = torch.load(killed / "seed_1" / "best.pt", weights_only=True)["model"]
    assert all(torch.equal(best_ref[k], best_res[k]) for k in best_ref)
    summary = json.loads((killed / "summary.json").read_text())
    assert summary["test"]["ap_micro"]["mean"] == ref["test"]["ap_micro"]
    assert not list((killed / "seed_1").glob(".*.tmp"))

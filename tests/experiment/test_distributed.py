"""One run on several processes: ``torchrun`` + DistributedDataParallel (gloo on the CPU).

Two processes with micro-batch 8 see, step by step, the same global batches as one process with
micro-batch 16 (DistributedSampler shards the same seeded permutation), and DDP averages their
gradients: so the loss trajectory, the selected epoch and the test metrics must agree within float
tolerance. A two-process run killed mid-training and restarted with ``--resume`` ends where an
uninterrupted one does. Rank 0 alone writes files.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from test_train import write_prepared

pytestmark = pytest.mark.slow
MODEL = {"d_model": 8, "num_heads": 2, "layers": 1, "parallel_len": 4, "parallel_layers": 1,
         "audio_encoder_kernel": 4, "audio_encoder_stride": 2, "audio_encoder_len": 6,
         "attn_dropout": 0.0, "attn_dropout_a": 0.0, "attn_dropout_v": 0.0, "relu_dropout": 0.0,
         "res_dropout": 0.0, "embed_dropout": 0.0, "out_dropout": 0.0}  # no dropout: ranks draw other masks
TOLERANCE = 1e-4  # absolute, on losses (float sums in another order) and on metrics in %


def _params(tmp_path: Path, batch: int, epochs: int = 4, grad_accum: int = 1) -> Path:
    path = tmp_path / f"params_{batch}_{epochs}_{grad_accum}.yaml"
    path.write_text(yaml.safe_dump({"profile": "ddp", "ddp": {"seeds": [1], "moviescope": {
        "model": MODEL, "train": {"batch_size": batch, "grad_accum": grad_accum, "lr": 0.003, "max_epochs": epochs,
                                  "patience": 100}}}}))
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "", "MASTER_ADDR": "127.0.0.1"}


def _train(data: Path, params: Path, out: Path, nproc: int, *extra: str) -> list[str]:
    args = ["-m", "bpmult.cli", "train", "--dataset", "moviescope", "--model", "bpmult", "--data", str(data),
            "--out", str(out), "--params", str(params), "--no-progress", *extra]
    if nproc == 1:
        return [sys.executable, *args]
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_addr",
            "127.0.0.1", "--master_port", str(_free_port()), *args]


def _history(out: Path) -> list[dict[str, float]]:
    lines = (out / "seed_1" / "history.csv").read_text().splitlines()
    return [dict(zip(lines[0].split(","), map(float, row.split(",")))) for row in lines[1:]]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ddp")
    return write_prepared(root / "prepared", sizes=(64, 16, 16),
                          shapes={"text": [10, 12], "video": [8, 6], "audio": [16, 5], "poster": [9]})


def test_two_processes_follow_the_one_process_trajectory(data, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    for out, nproc, batch in ((one, 1, 16), (two, 2, 8)):
        result = subprocess.run(_train(data, _params(tmp_path, batch), out, nproc), env=_env(), capture_output=True,
                                text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
    h1, h2 = _history(one), _history(two)
    assert len(h1) == len(h2) == 4
    for a, b in zip(h1, h2):
        for key in ("train_loss", "dev_loss", "dev_ap_micro", "lr"):
            assert abs(a[key] - b[key]) <= TOLERANCE, (key, a, b)
    m1, m2 = (json.loads((d / "seed_1" / "metrics.json").read_text()) for d in (one, two))
    assert m1["best_epoch"] == m2["best_epoch"]
    for key, value in m1["test"].items():
        if value is not None:
            assert abs(value - m2["test"][key]) <= TOLERANCE, key
    assert not (two / "seed_1" / "rank1").exists() and len(list((two / "seed_1").glob("*.tmp"))) == 0


def test_two_processes_accumulating_micro_batches_follow_the_one_process_trajectory(data, tmp_path):
    """2 processes x micro-batch 5 x grad_accum 3 against 1 process x micro-batch 10 x grad_accum 3.

    The all-reduce runs only on a group's last micro-batch (``no_sync`` on the others). The 64
    training samples make each epoch end in a short micro-batch (2 per process, 4 in one process)
    and a short group (one micro-batch): the global micro-batches are the same samples in both runs,
    so even those steps agree.
    """
    one, two = tmp_path / "one", tmp_path / "two"
    for out, nproc, batch in ((one, 1, 10), (two, 2, 5)):
        result = subprocess.run(_train(data, _params(tmp_path, batch, grad_accum=3), out, nproc), env=_env(),
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
    h1, h2 = _history(one), _history(two)
    assert len(h1) == len(h2) == 4
    for a, b in zip(h1, h2):
        for key in ("train_loss", "dev_loss", "dev_ap_micro", "lr"):
            assert abs(a[key] - b[key]) <= TOLERANCE, (key, a, b)
    # the trajectory moved: equal histories of an untrained model would prove nothing
    assert abs(h1[0]["train_loss"] - h1[-1]["train_loss"]) > 100 * TOLERANCE


def test_two_process_run_killed_and_resumed_ends_like_an_uninterrupted_one(data, tmp_path):
    params = _params(tmp_path, 8, epochs=12)
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    done = subprocess.run(_train(data, params, reference, 2), env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    process = subprocess.Popen(_train(data, params, killed, 2), env=_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, start_new_session=True)
    checkpoint = killed / "seed_1" / "checkpoint.pt"
    deadline = time.monotonic() + 300
    while not checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.05)
    running = process.poll() is None
    family = psutil.Process(process.pid).children(recursive=True)  # torchrun starts the ranks in sessions of their own
    for proc in [psutil.Process(process.pid), *family]:
        proc.send_signal(signal.SIGKILL)
    psutil.wait_procs(family, timeout=60)
    process.communicate(timeout=60)
    assert running, "the run ended before it could be killed"
    assert not (killed / "seed_1" / "metrics.json").exists()
    resumed = subprocess.run(_train(data, params, killed, 2, "--resume"), env=_env(), capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    for a, b in zip(_history(reference), _history(killed)):
        for key in ("train_loss", "dev_loss", "dev_ap_micro"):
            assert abs(a[key] - b[key]) <= TOLERANCE, (key, a, b)
    ref, res = (json.loads((d / "seed_1" / "metrics.json").read_text()) for d in (reference, killed))
    assert ref["best_epoch"] == res["best_epoch"] and ref["epochs"] == res["epochs"]

"""Seeds trained side by side (BPMULT_SEED_WORKERS): the setting, real worker processes, the same
files as one process, a failure that spares the other seeds, workers that die with their parent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from bpmult import experiment as X
from bpmult.experiment.seed_workers import ENV, run_in_workers, seed_workers

from test_train import write_prepared

PARAMS = {"profile": "t", "t": {"seeds": [1, 2, 3], "data": {"source": "synth"}, "moviescope": {
    "model": {"d_model": 8, "num_heads": 2, "layers": 1, "parallel_len": 4, "parallel_layers": 1,
              "audio_encoder_kernel": 4, "audio_encoder_stride": 2, "audio_encoder_len": 4},
    "train": {"batch_size": 16, "max_epochs": 3, "patience": 5, "cpu_threads": 1}}}}
SHAPES = {"text": [6, 5], "video": [4, 3], "audio": [12, 2], "poster": [7]}
ROOT = Path(__file__).resolve().parents[2]


# jobs run in spawned workers: module-level, so that a worker can import them
def _pid(tag: str) -> tuple[str, int]:
    return tag, os.getpid()


def _meet(folder: str, me: str, other: str) -> str:
    """Finishes only when the other job runs at the same time (it waits for the other's mark)."""
    Path(folder, me).touch()
    deadline = time.monotonic() + 60
    while not Path(folder, other).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{other} never started while {me} ran")
        time.sleep(0.01)
    return me


def _fail_or_mark(folder: str, name: str) -> str:
    if name == "bad":
        raise ValueError("seed bad: a one-line error from the worker")
    time.sleep(0.5)  # ends after the failure: the pool must still wait for it
    Path(folder, name).touch()
    return name


@pytest.mark.parametrize("value,expected", [(None, 1), ("", 1), ("1", 1), ("3", 3), (" 2 ", 2), ("gpus", 1)])
def test_the_setting_is_a_count_or_gpus(value, expected):
    environ = {} if value is None else {ENV: value}
    assert seed_workers(environ) == expected  # "gpus" on a machine without CUDA: one worker


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_a_bad_setting_names_the_variable_and_what_it_takes(value):
    with pytest.raises(ValueError, match=rf"^{ENV}='{value}': expected a positive integer .* or 'gpus'"):
        seed_workers({ENV: value})


def test_jobs_run_in_other_processes_at_the_same_time(tmp_path):
    results = run_in_workers(_pid, [("a",), ("b",), ("c",)], workers=2)
    assert [tag for tag, _ in results] == ["a", "b", "c"]  # in call order
    pids = {pid for _, pid in results}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    # two jobs that can only finish together: they must have run concurrently
    assert run_in_workers(_meet, [(str(tmp_path), "x", "y"), (str(tmp_path), "y", "x")], workers=2) == ["x", "y"]


def test_a_failing_job_lets_the_others_finish_then_raises_its_error(tmp_path):
    with pytest.raises(ValueError, match="^seed bad: a one-line error from the worker$"):
        run_in_workers(_fail_or_mark, [(str(tmp_path), "bad"), (str(tmp_path), "good")], workers=2)
    assert (tmp_path / "good").exists()


def test_workers_die_with_their_parent(tmp_path):
    pids = tmp_path / "pids"
    script = textwrap.dedent(f"""
        import os, sys, time
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from bpmult.experiment.seed_workers import run_in_workers
        from test_seed_workers import _sleeper
        run_in_workers(_sleeper, [({str(pids)!r},), ({str(pids)!r},)], workers=2)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT)
    deadline = time.monotonic() + 120
    while (not pids.exists() or len(pids.read_text().split()) < 2) and time.monotonic() < deadline:
        time.sleep(0.05)
    workers = [psutil.Process(int(p)) for p in pids.read_text().split()]
    assert len(workers) == 2
    parent.send_signal(signal.SIGKILL)
    parent.wait(timeout=30)
    gone, alive = psutil.wait_procs(workers, timeout=30)
    assert not alive, f"workers outlived their killed parent: {[p.pid for p in alive]}"


def _sleeper(pids: str) -> None:
    with open(pids, "a") as out:
        out.write(f"{os.getpid()}\n")
    time.sleep(300)


def _files(run: Path) -> dict[str, bytes]:
    """Every file a seed writes, except what records time and place (seconds, device, versions)."""
    found = {}
    for path in sorted(run.glob("seed_*/*")):
        if path.name == "metrics.json":
            m = json.loads(path.read_text())
            for key in ("train_seconds", "device", "versions", "seconds"):
                m.pop(key, None)
            found[str(path.relative_to(run))] = json.dumps(m, sort_keys=True).encode()
        elif path.suffix in (".csv", ".npz", ".json"):
            found[str(path.relative_to(run))] = path.read_bytes()
    return found


def test_seeds_trained_side_by_side_write_what_one_process_writes(tmp_path, monkeypatch):
    data = write_prepared(tmp_path / "prepared", shapes=SHAPES)
    exp = X.plan(data, "bpmult", params=PARAMS)
    monkeypatch.setenv(ENV, "1")
    one = X.train_experiment(exp, tmp_path / "one", resume="auto", progress=False)
    monkeypatch.setenv(ENV, "2")
    side = X.train_experiment(exp, tmp_path / "side", resume="auto", progress=False)
    assert one["seeds"] == side["seeds"] == [1, 2, 3]
    assert one["test"] == side["test"] and one["dev"] == side["dev"]
    a, b = _files(tmp_path / "one"), _files(tmp_path / "side")
    assert sorted(a) == sorted(b) and len(a) >= 3 * 4
    assert [k for k in a if a[k] != b[k]] == []
    # a rerun with workers keeps the finished seeds (auto-resume in each worker)
    stamp = (tmp_path / "side" / "seed_2" / "metrics.json").stat().st_mtime_ns
    X.train_experiment(exp, tmp_path / "side", resume="auto", progress=False)
    assert (tmp_path / "side" / "seed_2" / "metrics.json").stat().st_mtime_ns == stamp

"""Device choice: GPU claims for parallel queue workers, tested on the CPU with real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from bpmult.train import runtime

HOLD = textwrap.dedent("""
    import sys, time
    from bpmult.train.runtime import claim_gpu
    print(claim_gpu(int(sys.argv[1]), sys.argv[2]), flush=True)
    time.sleep(float(sys.argv[3]))
""")


def _worker(count: int, lock_dir, hold: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", HOLD, str(count), str(lock_dir), str(hold)],
                            stdout=subprocess.PIPE, text=True)


def test_concurrent_workers_each_claim_their_own_gpu(tmp_path):
    workers = [_worker(2, tmp_path, 20) for _ in range(2)]
    claimed = sorted(int(w.stdout.readline()) for w in workers)
    assert claimed == [0, 1]
    third = _worker(2, tmp_path, 0)
    assert third.stdout.readline().strip() == "None"  # every GPU taken: the caller shares the first
    third.wait(timeout=60)
    for w in workers:
        w.kill()
        w.wait(timeout=60)
    # the kernel released the killed workers' claims: a new worker gets GPU 0 again
    again = _worker(2, tmp_path, 0)
    assert again.stdout.readline().strip() == "0"
    again.wait(timeout=60)


PICK = textwrap.dedent("""
    import os, sys, time
    import torch
    # a machine with two GPUs, as far as pick_device can tell (this one has none)
    torch.cuda.is_available = lambda: True
    torch.cuda.device_count = lambda: 2
    from bpmult.train.runtime import pick_device
    print(pick_device(), flush=True)
    time.sleep(float(sys.argv[1]))
""")


def _picker(lock_dir, hold: float, **env: str) -> subprocess.Popen:
    environ = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    return subprocess.Popen([sys.executable, "-c", PICK, str(hold)], stdout=subprocess.PIPE, text=True,
                            env={**environ, "BPMULT_GPU_LOCKS": str(lock_dir), **env})


def test_each_queue_worker_trains_on_a_gpu_of_its_own(tmp_path):
    """What `dvc queue start -j 2` on a 2-GPU machine does: each trainer's device, not only its lock."""
    workers = [_picker(tmp_path, 20) for _ in range(2)]
    chosen = sorted(w.stdout.readline().strip() for w in workers)
    assert chosen == ["cuda:0", "cuda:1"]
    third = _picker(tmp_path, 0)  # every GPU claimed: the first is shared
    assert third.stdout.readline().strip() == "cuda:0"
    third.wait(timeout=60)
    for w in workers:
        w.kill()
        w.wait(timeout=60)
    # a user's CUDA_VISIBLE_DEVICES is their choice: no claim, the one device they left visible
    pinned = _picker(tmp_path, 0, CUDA_VISIBLE_DEVICES="1")
    assert pinned.stdout.readline().strip() == "cuda"
    pinned.wait(timeout=60)


def test_one_process_keeps_its_claim(tmp_path):
    first = runtime.claim_gpu(3, tmp_path)
    assert runtime.claim_gpu(3, tmp_path) == first
    runtime._CLAIMED.pop(first).close()


def test_explicit_device_wins():
    assert runtime.pick_device("cpu").type == "cpu"


def test_loaders_pin_memory_on_cuda_and_use_the_configured_workers():
    import torch

    from bpmult.train.config import TrainConfig
    from bpmult.train.loop import loader_settings

    assert loader_settings(TrainConfig(num_workers=4), torch.device("cuda", 0)) == {"num_workers": 4, "pin_memory": True}
    assert loader_settings(TrainConfig(), torch.device("cpu")) == {"num_workers": 0, "pin_memory": False}

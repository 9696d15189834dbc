"""bpmult.train.runtime.keep_freed_cpu_memory sets glibc's thresholds once, and leaves them alone
where the user chose otherwise. Each case runs in a fresh interpreter: the setting is per process."""

import subprocess
import sys

import pytest

CHECK = """
import ctypes, resource, sys, torch
from bpmult.train import runtime
torch.set_num_threads(1)
tuned = runtime.keep_freed_cpu_memory()
again = runtime.keep_freed_cpu_memory()
x = torch.randn(12, 2**20)  # 48 MiB: above glibc's largest adaptive mmap threshold (32 MiB)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    y = x * 2.0  # a 48 MiB block each time, freed at once
    del y
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(tuned, again, faults)
"""


def _run(env_extra):
    import os
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.pop("BPMULT_KEEP_FREED_MEMORY", None)
    env.update(env_extra)
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, env=env, check=True)
    tuned, again, faults = out.stdout.split()
    return tuned == "True", again == "True", int(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_tuned_process_reuses_freed_blocks():
    tuned, again, faults = _run({})
    assert tuned and again
    _, _, untuned_faults = _run({"BPMULT_KEEP_FREED_MEMORY": "0"})
    # 48 MiB is 12,288 pages of 4 KiB: fresh pages every time fault them all ten times, a reused
    # block only once
    assert untuned_faults > 8 * 12_288, untuned_faults
    assert faults < 3 * 12_288, faults


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
@pytest.mark.parametrize("env", [{"BPMULT_KEEP_FREED_MEMORY": "0"}, {"MALLOC_TRIM_THRESHOLD_": "131072"},
                                 {"MALLOC_MMAP_THRESHOLD_": "131072"}])
def test_user_choice_is_left_alone(env):
    tuned, again, _ = _run(env)
    assert not tuned and not again

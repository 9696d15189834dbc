"""Disk of one Moviescope BPMuLT run at the paper's sizes, measured on CPU (issue 9, point 5).

Writes Moviescope's upstream files at their real per-sample sizes (tests/fixtures/upstream.py:
200 x 4096 frames, 4096-d posters, 96 x 1800-4200 spectrograms, 450-900-word plots), a random
full-size bert-base-uncased in a Hugging Face cache, prepares them with the paper profile's data
settings, and trains the paper profile's BPMuLT (authors definition, d 768, BERT inside the model)
for one epoch per seed at batch 1 (the paper's batch 8 does not fit a 24 GB CPU machine; the files
do not depend on the batch). While it trains, the sizes of every seed's checkpoint.pt and best.pt
are sampled; at the end, what keep_weights leaves.

    python tools/seed_disk.py [--seeds 2] [--work /tmp/seed-disk] [--variant bpmult]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from fixtures.upstream import tiny_bert, write_moviescope  # noqa: E402

BIN = Path(sys.executable).parent


def _gb(n: int) -> str:
    return f"{n / 1e9:.2f} GB"


def _tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--variant", default="bpmult")
    parser.add_argument("--work", type=Path, default=Path("/tmp/seed-disk"))
    args = parser.parse_args()
    work = args.work
    if work.exists():
        shutil.rmtree(work)
    hub = work / "hub"
    tiny_bert(hub, full_size=True)
    write_moviescope(work / "upstream" / "moviescope", seed=0)
    env = dict(os.environ, HF_HUB_CACHE=str(hub), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    prepared = work / "prepared"
    subprocess.run([str(BIN / "bpmult"), "prepare", "moviescope", "--raw", str(work / "upstream" / "moviescope"),
                    "--out", str(prepared), "--text-encoder", "bert-base-uncased", "--set", "text_features=token_ids",
                    "--set", "moviescope_audio_crop=batch_shortest", "--no-cache"], check=True, env=env, cwd=REPO)
    run = work / "run"
    peaks: dict[str, int] = {}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for path in run.glob("seed_*/*.pt"):
                try:
                    size = path.stat().st_size
                except FileNotFoundError:
                    continue
                key = f"{path.parent.name}/{path.name}"
                peaks[key] = max(peaks.get(key, 0), size)
            live = sum(p.stat().st_size for p in run.glob("seed_*/*.pt") if p.exists()) if run.exists() else 0
            peaks["run folder .pt at once"] = max(peaks.get("run folder .pt at once", 0), live)
            time.sleep(0.5)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    start = time.monotonic()
    subprocess.run([str(BIN / "bpmult"), "train", "--model", args.variant, "--data", str(prepared), "--out", str(run),
                    "--profile", "paper", "--params", str(REPO / "params.yaml"),
                    "--seeds", f"1-{args.seeds}", "--set", "train.batch_size=1", "--set", "train.grad_accum=1",
                    "--set", "train.max_epochs=1", "--no-progress"], check=True, env=env, cwd=REPO)
    done.set()
    thread.join()
    seconds = time.monotonic() - start
    left = {p.relative_to(run).as_posix(): p.stat().st_size for p in sorted(run.rglob("*")) if p.is_file()}
    best = max((v for k, v in peaks.items() if k.endswith("best.pt")), default=0)
    report = {
        "variant": args.variant, "seeds": args.seeds, "train_seconds": round(seconds, 1),
        "prepared_bytes": _tree_bytes(prepared),
        "peak_bytes": peaks, "left_bytes": left,
        "run_folder_bytes_left": sum(left.values()),
        "keep_weights_all_would_leave_bytes": sum(left.values()) + best * (args.seeds - 1),
        "weights_record": json.loads((run / "weights.json").read_text()) if (run / "weights.json").exists() else None,
    }
    print(json.dumps(report, indent=2))
    print(f"peak checkpoint.pt {_gb(max(v for k, v in peaks.items() if k.endswith('checkpoint.pt')))}, "
          f"best.pt {_gb(best)}; left: {_gb(report['run_folder_bytes_left'])} for {args.seeds} seeds "
          f"(keep_weights all: {_gb(report['keep_weights_all_would_leave_bytes'])})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

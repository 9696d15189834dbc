#!/usr/bin/env python3
"""Where the time of a ``dvc repro`` goes: run it (or read its saved log) and print a breakdown.

    python tools/repro_timeline.py                 # runs `dvc repro`, timing each stage
    python tools/repro_timeline.py --log LOG.tsv   # the breakdown of a timed log written earlier

Each line DVC prints is stamped on arrival; a stage lasts from its ``Running stage '...'`` line
to the next one (or the end). Training time proper comes from the runs' own records
(``metrics/runs/*.json``: ``train_seconds`` per seed), so a train stage splits into training and
everything else around it (Papermill kernel start, imports, data loading, evaluation, plots, the
HTML page). Stages DVC skips take no time and are not listed.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

STAGE_LINE = re.compile(r"^Running stage '([^']+)'")


def stage_durations(stamped: list[tuple[float, str]]) -> dict[str, float]:
    """Seconds per stage from ``(time, line)`` pairs of a ``dvc repro`` console log."""
    durations: dict[str, float] = {}
    current, since = None, None
    for stamp, line in stamped:
        match = STAGE_LINE.match(line)
        if match:
            if current is not None:
                durations[current] = stamp - since
            current, since = match.group(1), stamp
    if current is not None and stamped:
        durations[current] = stamped[-1][0] - since
    return durations


def stage_kind(stage: str) -> str:
    return stage.split("@", 1)[0]


def train_seconds(metrics_dir: Path) -> dict[str, float]:
    """Pure training seconds per train stage (mean per seed × seeds), from the runs' summaries."""
    seconds = {}
    for path in sorted(metrics_dir.glob("*.json")):
        summary = json.loads(path.read_text())
        seconds[f"train@{path.stem}"] = summary["run"]["train_seconds"]["mean"] * summary["n_seeds"]
    return seconds


def breakdown(durations: dict[str, float], trained: dict[str, float]) -> list[tuple[str, int, float]]:
    """``(part, stages, seconds)`` rows: each stage kind, with train split into training and the rest."""
    by_kind: dict[str, list[float]] = defaultdict(list)
    for stage, seconds in durations.items():
        by_kind[stage_kind(stage)].append(seconds)
    rows = []
    for kind, values in sorted(by_kind.items()):
        rows.append((kind, len(values), sum(values)))
        if kind == "train":
            fitted = sum(trained.get(stage, 0.0) for stage in durations if stage_kind(stage) == "train")
            rows.append(("  of which training (train_seconds)", len(values), fitted))
            rows.append(("  of which the rest (kernel, imports, data, eval, page)", len(values), sum(values) - fitted))
    rows.append(("total", len(durations), sum(durations.values())))
    return rows


def run_timed(command: list[str], log: Path) -> list[tuple[float, str]]:
    start = time.monotonic()
    stamped = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1) as proc, \
            open(log, "w") as out:
        for line in proc.stdout:
            stamp = time.monotonic() - start
            stamped.append((stamp, line.rstrip("\n")))
            out.write(f"{stamp:.3f}\t{line}")
            out.flush()
            sys.stdout.write(line)
    stamped.append((time.monotonic() - start, ""))
    if proc.returncode:
        sys.exit(f"{' '.join(command)} failed with exit {proc.returncode} (log: {log})")
    return stamped


def read_log(log: Path) -> list[tuple[float, str]]:
    stamped = []
    # "\n" only: progress bars put bare "\r" inside a line, which universal newlines would cut at
    with open(log, newline="") as handle:
        lines = handle.read().split("\n")
    if lines[-1] == "":  # the final newline ends the last line; it starts no new one
        lines.pop()
    for number, line in enumerate(lines, 1):
        stamp, _, text = line.partition("\t")
        try:
            stamped.append((float(stamp), text))
        except ValueError:
            sys.exit(f"{log}:{number}: expected '<seconds>\\t<line>' as written by this tool")
    return stamped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", type=Path, help="read this timed log instead of running dvc repro")
    parser.add_argument("--out", type=Path, default=Path("repro-timeline.tsv"), help="where a new run's timed log goes")
    parser.add_argument("--metrics", type=Path, default=Path("metrics/runs"), help="the runs' summaries")
    args = parser.parse_args()
    stamped = read_log(args.log) if args.log else run_timed(["dvc", "repro"], args.out)
    durations = stage_durations(stamped)
    rows = breakdown(durations, train_seconds(args.metrics) if args.metrics.is_dir() else {})
    print("\n| part | stages | seconds |\n|---|---|---|")
    for part, count, seconds in rows:
        print(f"| {part} | {count} | {seconds:.0f} |")


if __name__ == "__main__":
    main()

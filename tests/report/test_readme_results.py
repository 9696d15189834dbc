"""The README's table of embedded results says what the committed run summaries say.

The table is written by hand; this keeps it from going stale when a committed repro moves a number.
It reads the summaries as committed (``git show HEAD:...``), not the working tree: a user's own
``make repro`` on another machine may move them by float rounding, and that is not the README's fault."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bpmult.report.names import MODELS

ROOT = Path(__file__).resolve().parents[2]

# the README shortens the report's dataset and metric names (MOSEI, accuracy), so these two maps
# are its own; the models carry the report's (the paper's) names
DATASETS = {"Moviescope": "moviescope", "MM-IMDb": "mmimdb", "MOSEI": "mosei",
            "IEMOCAP (aligned)": "iemocap_aligned", "IEMOCAP (unaligned)": "iemocap_unaligned"}
VARIANTS = {paper: code for code, paper in MODELS.items()}
METRICS = {"AP-micro": "ap_micro", "F1-micro": "f1_micro", "W-Acc": "avg_wacc", "accuracy": "avg_acc"}
CELL = re.compile(r"^(?P<run>.+?) \| (?P<metric>[^|]+?) \| (?P<mean>\d+\.\d) ± (?P<std>\d+\.\d)$")


def readme_cells() -> list[dict[str, str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Results of the embedded default", 1)[1].split("\n## ", 1)[0]
    cells = []
    for line in section.splitlines():
        if not line.startswith("| ") or "± " not in line:
            continue
        for half in line.strip("| ").split(" | | "):
            match = CELL.match(half.strip())
            assert match, f"README results row not understood: {half!r}"
            cells.append(match.groupdict())
    return cells


def run_file(run: str) -> str:
    for name in sorted(DATASETS, key=len, reverse=True):
        if run.startswith(name + " "):
            return f"metrics/runs/{DATASETS[name]}-{VARIANTS[run[len(name) + 1:]]}.json"
    raise AssertionError(f"README run name not understood: {run!r}")


def committed(path: str) -> str:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the committed summaries cannot be read")
    result = subprocess.run(["git", "-C", str(ROOT), "show", f"HEAD:{path}"], capture_output=True, text=True)
    assert result.returncode == 0, f"{path} is not committed: {result.stderr.strip()}"
    return result.stdout


def test_the_table_has_the_rows_it_should():
    cells = readme_cells()
    assert len(cells) == 12
    assert len({c["run"] for c in cells}) == 12


@pytest.mark.parametrize("cell", readme_cells(), ids=lambda c: c["run"])
def test_each_readme_number_is_the_committed_summary(cell):
    summary = json.loads(committed(run_file(cell["run"])))
    score = summary["test"][METRICS[cell["metric"]]]
    assert summary["selection_metric"] == METRICS[cell["metric"]]
    assert f"{score['mean']:.1f}" == cell["mean"] and f"{score['std']:.1f}" == cell["std"]

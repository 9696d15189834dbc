"""The repro timing tool splits a stamped `dvc repro` log into stages and training vs the rest."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("repro_timeline", REPO / "tools" / "repro_timeline.py")
timeline = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(timeline)


def test_each_stage_lasts_until_the_next_one_starts():
    stamped = [(0.0, "Running stage 'raw@mosei':"), (0.5, "> python -m ..."), (2.0, "Running stage 'train@mosei-mult':"),
               (9.0, "Updating lock file 'dvc.lock'"), (12.5, "Running stage 'report':"), (20.0, "")]
    assert timeline.stage_durations(stamped) == {"raw@mosei": 2.0, "train@mosei-mult": 10.5, "report": 7.5}


def test_a_log_without_stages_has_no_durations():
    assert timeline.stage_durations([(0.0, "Stage 'raw@mosei' didn't change, skipping"), (1.0, "")]) == {}


def test_breakdown_splits_training_from_the_rest(tmp_path):
    metrics = tmp_path / "runs"
    metrics.mkdir()
    (metrics / "mosei-mult.json").write_text(json.dumps({"n_seeds": 2, "run": {"train_seconds": {"mean": 3.0}}}))
    rows = timeline.breakdown({"raw@mosei": 2.0, "train@mosei-mult": 10.5}, timeline.train_seconds(metrics))
    table = {part.strip(): (count, seconds) for part, count, seconds in rows}
    assert table["train"] == (1, 10.5)
    assert table["of which training (train_seconds)"] == (1, 6.0)
    assert table["of which the rest (kernel, imports, data, eval, page)"] == (1, 4.5)
    assert table["raw"] == (1, 2.0) and table["total"] == (2, 12.5)


def test_a_foreign_log_is_refused_with_its_line(tmp_path):
    log = tmp_path / "log.tsv"
    log.write_text("0.1\tRunning stage 'x':\nnot a stamp\n")
    try:
        timeline.read_log(log)
    except SystemExit as stop:
        assert f"{log}:2:" in str(stop)
    else:
        raise AssertionError("a line without a stamp was accepted")


def test_a_progress_bar_carriage_return_stays_inside_its_line(tmp_path):
    log = tmp_path / "log.tsv"
    log.write_text("0.5\tRunning stage 'prepare@mosei':\n3.0\t\rLoading 0%\rLoading 100%\n4.0\tRunning stage 'report':\n6.0\t\n")
    stamped = timeline.read_log(log)
    assert [stamp for stamp, _ in stamped] == [0.5, 3.0, 4.0, 6.0]
    assert stamped[1][1] == "\rLoading 0%\rLoading 100%"
    assert timeline.stage_durations(stamped) == {"prepare@mosei": 3.5, "report": 2.0}


def test_an_empty_log_has_no_lines(tmp_path):
    log = tmp_path / "log.tsv"
    log.write_text("")
    assert timeline.read_log(log) == []

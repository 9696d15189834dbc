"""The claims check on fixture runs whose verdicts are known, and Welch's interval against scipy."""

import json

import numpy as np
import pytest
from report_fixtures import write_run, write_summary
from scipy import stats as scipy_stats

from bpmult.report import claims, claims_page
from bpmult.report.stats import Arm, welch_interval

BEATS_MULT_GMU = "moviescope_bpmult_vs_mult_gmu"


def _ap(micro):
    return {"ap_micro": micro, "ap_macro": 50.0, "ap_samples": 60.0}


def _by_id(results):
    return {r["id"]: r for r in results}


def test_welch_interval_matches_scipy():
    a, b = [81.2, 81.9, 82.4, 80.8], [79.1, 80.3, 79.8]
    interval = welch_interval(Arm.of(a), Arm.of(b))
    ref = scipy_stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert (interval.low, interval.high) == pytest.approx((ref.low, ref.high))
    assert interval.diff == pytest.approx(np.mean(a) - np.mean(b))


def test_welch_interval_without_spread():
    one = welch_interval(Arm.of([80.0]), Arm.of([70.0, 71.0]))
    assert one.diff == pytest.approx(9.5) and one.low is None and one.high is None
    flat = welch_interval(Arm.of([80.0, 80.0]), Arm.of([70.0, 70.0]))
    assert (flat.low, flat.high) == (10.0, 10.0)


def test_clear_win_holds_clear_loss_does_not_hold(tmp_path):
    write_run(tmp_path, "moviescope-bpmult", [_ap(v) for v in (82.0, 82.5, 81.8)])
    write_run(tmp_path, "moviescope-mult_gmu", [_ap(v) for v in (70.0, 70.6, 69.9)])
    write_run(tmp_path, "moviescope-bpmult_no_rc", [_ap(v) for v in (90.0, 90.4, 89.8)])
    results = _by_id(claims.evaluate_claims(tmp_path))
    win = results[BEATS_MULT_GMU]
    assert win["verdict"] == "holds" and win["ours"]["ci_low"] > 0
    assert win["ours"]["diff"] == pytest.approx(np.mean([82.0, 82.5, 81.8]) - np.mean([70.0, 70.6, 69.9]))
    assert win["paper"] == {"better": 81.7, "worse": 79.8, "diff": pytest.approx(1.9)}
    loss = results["moviescope_ablation_bpmult_no_rc_hurts"]
    assert loss["verdict"] == "does not hold" and loss["ours"]["ci_high"] < 0
    assert "n=3 vs 3 seeds" in loss["verdict_text"]
    assert results["mosei_bpmult_vs_mult"]["verdict"] == "no run"


def test_overlap_and_single_seed_are_inconclusive(tmp_path):
    write_run(tmp_path, "moviescope-bpmult", [_ap(v) for v in (80.0, 84.0)])
    write_run(tmp_path, "moviescope-mult_gmu", [_ap(v) for v in (79.0, 83.0)])
    write_run(tmp_path, "moviescope-mult", [_ap(10.0)])  # far below, but one seed: no interval
    results = _by_id(claims.evaluate_claims(tmp_path))
    assert results[BEATS_MULT_GMU]["verdict"] == "inconclusive"
    assert results[BEATS_MULT_GMU]["ours"]["ci_low"] < 0 < results[BEATS_MULT_GMU]["ours"]["ci_high"]
    single = results["moviescope_bpmult_vs_mult"]
    assert single["verdict"] == "inconclusive" and single["ours"]["ci_low"] is None
    assert "fewer than 2 seeds" in single["verdict_text"]


def test_committed_summary_layout_is_read_too(tmp_path):
    # metrics/runs/<run>.json: summaries only, no seed folders
    write_summary(tmp_path / "moviescope-bpmult.json", "moviescope-bpmult", [_ap(v) for v in (82.0, 82.5, 81.8)])
    write_summary(tmp_path / "moviescope-mult_gmu.json", "moviescope-mult_gmu", [_ap(v) for v in (70.0, 70.6)])
    win = _by_id(claims.evaluate_claims(tmp_path))[BEATS_MULT_GMU]
    assert win["verdict"] == "holds" and win["ours"]["better"]["n"] == 3 and win["ours"]["worse"]["n"] == 2


def test_emotion_claims_use_the_average_column(tmp_path):
    write_summary(tmp_path / "mosei-bpmult.json", "mosei-bpmult", [{"avg_wacc": v} for v in (70.0, 70.2)])
    write_summary(tmp_path / "mosei-mult.json", "mosei-mult", [{"avg_wacc": v} for v in (60.0, 60.4)])
    claim = _by_id(claims.evaluate_claims(tmp_path))["mosei_bpmult_vs_mult"]
    assert claim["metric"] == "avg_wacc" and claim["metric_name"] == "average W-Acc"
    assert claim["paper"]["diff"] == pytest.approx(68.0 - 65.4) and claim["verdict"] == "holds"


def test_claims_cover_the_papers_statements():
    ids = {c.id for c in claims.paper_claims()}
    for dataset in ("moviescope", "mmimdb", "iemocap_aligned", "iemocap_unaligned", "mosei"):
        assert f"{dataset}_parallel_branch_helps" in ids
    ablations = {"bpmult_translating", "bpmult_with_transformer", "bpmult_no_fgmu_middle", "bpmult_no_rc",
                 "bpmult_no_fgmu", "bpmult_no_fgmu_nor_rc", "bpmult_all_transformers"}
    assert {f"moviescope_ablation_{a}_hurts" for a in ablations} <= ids
    assert {BEATS_MULT_GMU, "mosei_bpmult_vs_mult"} <= ids


def test_claims_page_and_json_say_synthetic(tmp_path):
    write_run(tmp_path / "runs", "moviescope-bpmult", [_ap(v) for v in (82.0, 82.5)])
    write_run(tmp_path / "runs", "moviescope-mult_gmu", [_ap(v) for v in (70.0, 70.6)])
    results = claims_page.write_claims(runs_dir=tmp_path / "runs", html_path=tmp_path / "claims.html",
                                       json_path=tmp_path / "claims.json", profile="embedded", synthetic=True,
                                       seeds=[1, 2])
    data = json.loads((tmp_path / "claims.json").read_text())
    assert data["synthetic"] is True and "Welch" in data["method"]
    assert set(data["claims"]) == {r["id"] for r in results}
    assert sum(data["verdict_counts"].values()) == len(results)
    page = (tmp_path / "claims.html").read_text()
    assert "verdicts are about SYNTHETIC data" in page and "Welch" in page
    assert "BPMuLT (TVAP) beats MuLT-GMU (TVAP) on Moviescope AP-micro" in page
    real = claims_page.claims_body(results, synthetic=False)
    assert "SYNTHETIC" not in real

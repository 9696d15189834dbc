"""``bpmult bench``: the output structure on tiny shapes (no timed assertions)."""

import json

import pytest
import torch

from bpmult import bench
from bpmult.bench_profile import MASK_REGIMES, attention_backends
from bpmult.cli import main


def test_bench_times_both_models_and_writes_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--shapes", "tiny", "--steps", "2", "--warmup", "0", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    result = json.loads(out.read_text())
    assert [(r["shape"], r["model"]) for r in result["rows"]] == [("tiny", "mult"), ("tiny", "bpmult")]
    for row in result["rows"]:
        assert len(row["cpu_s"]) == 2 and all(t > 0 for t in row["cpu_s"])
        assert row["median_s"] > 0 and row["timer"] == "process_time" and row["threads"] == 1
        assert row["parameters"] > 0 and row["samples_per_s"] > 0
    ratio = result["ratios_bpmult_over_mult"]["tiny"]
    assert ratio == pytest.approx(result["rows"][1]["median_s"] / result["rows"][0]["median_s"])
    assert "bpmult/mult at tiny" in printed
    assert "SDPA backends on cuda: cuda not available" in printed  # this test machine has no GPU
    assert result["attention_backends"]["cuda"] == "cuda not available" or torch.cuda.is_available()


def test_profile_books_time_to_categories(tmp_path):
    out = tmp_path / "bench.json"
    assert main(["bench", "--shapes", "tiny", "--models", "bpmult", "--steps", "1", "--warmup", "0",
                 "--profile", "--json", str(out)]) == 0
    (profile,) = json.loads(out.read_text())["profiles"]
    categories = profile["categories_s"]
    for name in ("forward: attention (projections + SDPA)", "backward: attention (projections + SDPA)",
                 "forward: feed-forward", "forward: layer norm", "forward: fusion (GMU / FGMU)",
                 "optimizer (Adam)", "Python / dispatch overhead"):
        assert name in categories
    assert categories["forward: attention (projections + SDPA)"] > 0 and categories["optimizer (Adam)"] > 0
    assert sum(categories.values()) >= profile["profiled_step_s"] * 0.99


def test_determinism_on_cpu():
    check = bench.determinism("mult", "tiny", device=torch.device("cpu"), dtype="float32", adam="trainer")
    assert check["identical"] and len(check["losses"][0]) == 2


def test_meta_device_runs_a_paper_model_without_compute():
    row = bench.bench_one("mult", "iemocap", device=torch.device("meta"), dtype="float32", adam="trainer",
                          steps=1, warmup=0)
    assert row["parameters"] > 1_000_000 and row["timer"] == "perf_counter"


def test_attention_backends_cover_every_regime_on_cpu():
    rows = attention_backends(embed_dim=8, num_heads=2, batch=1)["cpu"]
    assert len(rows) == 2 * len(MASK_REGIMES)
    kinds = {(r["regime"], r["mask"]) for r in rows}
    assert ("cross Lq < Lk, lower-right causal mask", "bool") in kinds
    assert ("self-attention, square causal mask", "is_causal") in kinds
    assert all(r["backend"] != "unknown" for r in rows)
    assert all(r["backend"] == "cpu flash (fused)" for r in rows if r["dropout"] == 0.0)
    assert all(r["backend"] == "unfused, integer-draw dropout (ours)" for r in rows if r["dropout"] > 0.0)


def test_unknown_model_is_one_line_error(capsys):
    assert main(["bench", "--shapes", "tiny", "--models", "nope"]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err


def test_unknown_shape_is_refused_by_the_parser():
    with pytest.raises(SystemExit):
        main(["bench", "--shapes", "huge"])

"""``bpmult plan``: the meta-device counts equal real CPU counts, and the table covers every stage."""

from pathlib import Path

import pytest
import torch
import yaml

from bpmult.cli import main
from bpmult.experiment.params import load_params, resolve
from bpmult.experiment.spec import from_resolved
from bpmult.data.text import minilm_path
from bpmult.models import variant_config
from bpmult.nn import fused_attention, fused_feed_forward
from bpmult.plan import data_shape, pipeline_stages, plan_profile, split_settings, stage_cost
from bpmult.plan_count import count_step, parameter_counts
from bpmult.plan_facts import GPUS
from bpmult.plan_meta import build_on, example_batch, training_step

REPO = Path(__file__).resolve().parents[1]
DVC = REPO / "dvc.yaml"

# a small model with distinct sizes (batch 3, lengths 7/5/4 ...), dropout on, so a transposed axis
# or a missed saved tensor changes a count
TINY = dict(orig_d_text=6, orig_d_video=5, orig_d_audio=3, len_text=7, len_video=5, len_audio=4, d_model=8,
            num_heads=2, layers=1, parallel_len=3, parallel_layers=1, n_classes=4, head="multilabel",
            extras=(("poster", 9),), attn_dropout=0.1, relu_dropout=0.1, res_dropout=0.1, embed_dropout=0.1)
TINY_MANIFEST = {"task": "multilabel", "label_names": ["a", "b", "c", "d"],
                 "modalities": {"text": [7, 6], "video": [5, 5], "audio": [4, 3], "poster": [9]}}


def _experiment(profile: str, dataset: str, variant: str, modalities: str, settings=()):
    params = load_params(REPO / "params.yaml")
    data, overrides = split_settings(params, profile, tuple(settings))
    shape = data_shape(dataset, data)
    resolved = resolve(params, dataset, variant, profile=profile, overrides=overrides)
    return shape, from_resolved(Path(""), shape.manifest, dataset, variant, resolved, modalities=modalities)


@pytest.mark.parametrize("dataset,variant,modalities", [
    ("moviescope", "bpmult", "TVAP"), ("moviescope", "mult_gmu", "TVAPM"), ("mmimdb", "gmu", "TVAP"),
    ("iemocap_unaligned", "mult", "TVA"), ("mosei", "bpmult_no_parallel", "TVA"),
])
def test_meta_parameter_count_equals_the_real_model(dataset, variant, modalities):
    """The embedded profile's models at the real data's widths: meta build == CPU build."""
    _, exp = _experiment("embedded", dataset, variant, modalities)
    torch.manual_seed(0)
    assert parameter_counts(build_on(exp.model, "meta")) == parameter_counts(build_on(exp.model, "cpu"))


def test_text_encoder_from_config_has_the_real_parameter_count():
    """Word-piece text (token_ids): the encoder built from its config on meta equals the packaged
    MiniLM loaded with its weights (the real model training would build)."""
    _, exp = _experiment("embedded", "mosei", "bpmult", "TVA", ["data.text_features=token_ids"])
    assert exp.model.text_encoder is not None
    meta_total, meta_trainable = parameter_counts(build_on(exp.model, "meta"))
    real = exp.build_model()  # loads the packaged MiniLM's weights (local files)
    assert (meta_total, meta_trainable) == parameter_counts(real)
    assert meta_total > 22_000_000  # MiniLM-L6 is inside


def _counts_on_meta_and_cpu(cfg, manifest, batch_size):
    """One training step of ``cfg`` counted on the meta device and on a real CPU model (same seed).

    The CPU-only fused steps (bpmult.nn.fused_attention / fused_feed_forward) are switched off for
    the CPU count: the plan stands for a GPU, where autograd's composition runs, as on meta.
    """
    counts = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fused_attention, "applies", lambda *a: False)
        patch.setattr(fused_feed_forward, "applies", lambda *a: False)
        for device in ("meta", "cpu"):
            torch.manual_seed(0)
            model = build_on(cfg, device)
            counts[device] = count_step(model, training_step(model, example_batch(manifest, batch_size, device),
                                                             "multilabel"))
    return counts


@pytest.mark.parametrize("variant", ["bpmult", "mult", "mult_gmu", "gmu", "bpmult_translating"])
def test_meta_step_counts_equal_a_real_cpu_step(variant):
    """Saved-tensor bytes (forward) and FLOPs (forward, backward) on meta equal those of a real CPU step."""
    counts = _counts_on_meta_and_cpu(variant_config(variant, **TINY), TINY_MANIFEST, 3)
    assert counts["meta"] == counts["cpu"]
    assert counts["cpu"].saved_bytes > 0 and counts["cpu"].flops > 2 * counts["cpu"].forward_flops > 0


def test_meta_step_counts_equal_a_real_cpu_step_with_a_text_encoder():
    """The same with MiniLM inside the model (built from its config; word-piece ids and mask)."""
    cfg = variant_config("bpmult", **{**TINY, "orig_d_text": 384, "len_text": 9}, text_encoder=str(minilm_path()),
                         text_first_token_is_cls=True)
    manifest = {**TINY_MANIFEST, "modalities": {**TINY_MANIFEST["modalities"], "text_ids": [9], "text_mask": [9]}}
    del manifest["modalities"]["text"]
    counts = _counts_on_meta_and_cpu(cfg, manifest, 2)
    assert counts["meta"] == counts["cpu"]


def test_bf16_copy_saves_fewer_bytes():
    cfg = variant_config("bpmult", **TINY)
    model = build_on(cfg, "meta")
    fp32 = count_step(model, training_step(model, example_batch(TINY_MANIFEST, 3, "meta"), "multilabel"), flops=False)
    model = model.to(torch.bfloat16)
    bf16 = count_step(model, training_step(model, example_batch(TINY_MANIFEST, 3, "meta", torch.bfloat16),
                                           "multilabel"), flops=False)
    assert 0 < bf16.saved_bytes < fp32.saved_bytes


def test_mmimdb_literal_bag_of_words_costs_more_memory_than_the_authors_512():
    """Issue 9 point 3: the paper's literal 10,000-step bag of words against the authors' 512."""
    params = load_params(REPO / "params.yaml")
    stage = next(s for s in pipeline_stages(DVC, ["mmimdb"]) if s.variant == "bpmult")
    costs = {}
    for vocab in (512, 10000):
        data, _ = split_settings(params, "smoke", (f"data.mmimdb_bow_vocab={vocab}",))
        assert data.mmimdb_bow_vocab == vocab
        costs[vocab] = stage_cost(stage, params, "smoke", data, GPUS["H100-80GB"])
    assert costs[10000].activations_fp32 > 5 * costs[512].activations_fp32
    assert costs[10000].flops_per_sample > costs[512].flops_per_sample
    # the parallel branch's time reduction (eq. 13) is sized by the input length, so parameters grow too
    assert costs[10000].parameters > costs[512].parameters


def _tiny_params(tmp_path: Path, **extra) -> tuple[Path, int]:
    """A params file with a two-dataset profile (fast), and its number of train stages counted from
    the profile's datasets and the pipeline's run list."""
    params = load_params(REPO / "params.yaml")
    smoke = params["smoke"]
    profile = {"seeds": [1, 2], "definition": "paper", "data": smoke["data"], **extra,
               "iemocap_aligned": smoke["iemocap_aligned"], "mosei": smoke["mosei"]}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"profile": "tiny", "tiny": profile}))
    runs = next(v["runs"] for v in yaml.safe_load(DVC.read_text())["vars"] if "runs" in v)
    expected = sum(1 for r in runs.values() if r["dataset"] in ("iemocap_aligned", "mosei"))
    return path, expected


def test_cli_prints_one_row_per_stage_of_the_profile(tmp_path, capsys):
    path, expected = _tiny_params(tmp_path)
    assert main(["plan", "--profile", "tiny", "--params", str(path), "--dvc", str(DVC), "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and not line.startswith("| stage")]
    assert expected == 6 and len(rows) == expected
    assert sorted(r.split(" | ")[0][2:] for r in rows) == sorted(
        s.key for s in pipeline_stages(DVC, ["iemocap_aligned", "mosei"]))
    assert "meta" in out and "FlopCounterMode" in out and "saved_tensors_hooks" in out and "35%" in out
    assert "(2 of 2 seeds)" in out


def test_json_totals_add_up(tmp_path):
    path, expected = _tiny_params(tmp_path)
    plan = plan_profile(profile="tiny", params_path=path, dvc_path=DVC, gpu_name="A100-40GB")
    assert len(plan["stages"]) == expected and not plan["errors"]
    totals = plan["totals"]
    assert totals["best_weights_bytes"] == sum(r["best_bytes"] * 2 for r in plan["stages"])
    assert totals["gpu_hours_bound"] == pytest.approx(sum(r["gpu_hours_bound"] for r in plan["stages"]))
    for r in plan["stages"]:
        assert r["checkpoint_bytes"] == r["best_bytes"] + 2 * r["trainable"] * 4
        assert r["gpu_hours_expected"] <= r["gpu_hours_bound"]
    assert totals["live_checkpoint_bytes"] == max(r["checkpoint_bytes"] for r in plan["stages"])


def test_keep_weights_best_seed_counts_one_seed_of_weights_and_the_unpruned_ones_while_training(tmp_path):
    path, _ = _tiny_params(tmp_path, keep_weights="best_seed")
    plan = plan_profile(profile="tiny", params_path=path, dvc_path=DVC, gpu_name="A100-40GB")
    totals, stages = plan["totals"], plan["stages"]
    assert totals["best_weights_bytes"] == sum(r["best_bytes"] for r in stages)
    assert {r["kept_seeds"] for r in stages} == {1}
    assert totals["live_checkpoint_bytes"] == max(r["checkpoint_bytes"] + r["best_bytes"] for r in stages)


def test_unknown_gpu_is_one_line(capsys):
    assert main(["plan", "--profile", "smoke", "--gpu", "TPU-9000"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "TPU-9000" in err and "H100-80GB" in err


def test_unknown_profile_is_one_line(capsys):
    assert main(["plan", "--profile", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'nope'" in err and "paper" in err


def test_fused_cpu_steps_save_fewer_bytes_than_the_composition():
    """The CPU feed-forward and attention steps keep fewer tensors for the backward (their docstrings)."""
    cfg = variant_config("mult", **TINY)
    fused = {}
    for on in (True, False):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(fused_attention, "MIN_PROBABILITIES", 0)  # TINY is below both thresholds
            patch.setattr(fused_feed_forward, "MIN_ELEMENTS", 0)
            if not on:
                patch.setattr(fused_attention, "applies", lambda *a: False)
                patch.setattr(fused_feed_forward, "applies", lambda *a: False)
            torch.manual_seed(0)
            model = build_on(cfg, "cpu")
            fused[on] = count_step(model, training_step(model, example_batch(TINY_MANIFEST, 3, "cpu"), "multilabel"),
                                   flops=False).saved_bytes
    assert 0 < fused[True] < fused[False]

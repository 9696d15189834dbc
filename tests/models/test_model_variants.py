"""Every registered variant on tiny distinct sizes: shapes, gradients, state dict, determinism, gates."""

import pytest
import torch

from bpmult.models import VARIANTS, build_model, count_parameters
from tiny_models import BATCH, EXTRA_SETS, tiny_batch, tiny_config

CASES = [
    (variant, extras, head)
    for variant in VARIANTS
    for extras in EXTRA_SETS
    for head in ("multilabel", "iemocap")
    if variant != "gmu" or extras == "poster"  # the GMU baseline fuses one sequence with one extra
]

# (prefixes that must exist, prefixes that must be absent) in each variant's state dict
MODULES = {
    "mult": (["crossmodal.", "memory.", "head.residual.", "head.out_layer."], ["final_gmu.", "biprojection."]),
    "mult_gmu": (["memory.", "final_gmu.", "head."], ["biprojection."]),
    "mult_gmu_no_encoder": (["crossmodal.", "final_gmu."], ["memory."]),
    "gmu": (["gmu.", "classifier."], ["crossmodal.", "inputs."]),
    "bpmult": (["biprojection.", "top_fgmu.", "middle_fgmu.", "parallel.", "final_gmu.", "head.proj1."],
               ["top_transformer.", "time_adapters.", "query_self_attn", "layer_norms.2", "head.out_layer."]),
    "bpmult_no_parallel": (["top_fgmu.", "middle_fgmu."], ["parallel."]),
    "bpmult_translating": (["query_self_attn", "layer_norms.2", "parallel."], []),
    "bpmult_with_transformer": (["top_transformer."], ["top_fgmu.", "middle_fgmu."]),
    "bpmult_no_fgmu_middle": (["top_fgmu."], ["middle_fgmu."]),
    "bpmult_no_rc": (["top_fgmu.", "middle_fgmu.", "parallel."], []),
    "bpmult_no_fgmu": (["parallel."], ["top_fgmu.", "middle_fgmu."]),
    "bpmult_no_fgmu_nor_rc": (["parallel."], ["top_fgmu.", "middle_fgmu."]),
    "bpmult_all_transformers": (["biprojection."], ["parallel.", "top_fgmu.", "middle_fgmu."]),
}

# the final GMU's inputs per variant, before the extras
FINAL_INPUTS = {
    "mult": (),
    "mult_gmu": ("L", "V", "A"),
    "mult_gmu_no_encoder": ("A->L", "V->L", "L->V", "A->V", "L->A", "V->A"),
    "gmu": ("mean_V",),
    "bpmult": ("L", "V", "A", "P"),
    "bpmult_no_parallel": ("L", "V", "A"),
    "bpmult_translating": ("L", "V", "A", "P"),
    "bpmult_with_transformer": ("L", "V", "A", "P"),
    "bpmult_no_fgmu_middle": ("L", "V", "A", "P"),
    "bpmult_no_rc": ("L", "V", "A", "P"),
    "bpmult_no_fgmu": ("(A->V)->L", "(V->A)->L", "(A->L)->V", "(L->A)->V", "(V->L)->A", "(L->V)->A", "P"),
    "bpmult_no_fgmu_nor_rc": ("(A->V)->L", "(V->A)->L", "(A->L)->V", "(L->A)->V", "(V->L)->A", "(L->V)->A", "P"),
    "bpmult_all_transformers": (
        "(A->V)->L", "(V->A)->L", "V->L", "A->L", "(A->L)->V", "(L->A)->V", "L->V", "A->V",
        "(V->L)->A", "(L->V)->A", "L->A", "V->A",
    ),
}


def make(variant, extras, head, seed=0):
    cfg = tiny_config(variant, extras=EXTRA_SETS[extras], head=head, n_classes=4 if head == "iemocap" else 3)
    torch.manual_seed(seed)
    return cfg, build_model(cfg)


def test_every_variant_is_covered():
    assert set(MODULES) == set(VARIANTS) == set(FINAL_INPUTS)


@pytest.mark.parametrize("variant,extras,head", CASES)
def test_shapes_gates_and_names(variant, extras, head):
    cfg, model = make(variant, extras, head)
    model.eval()
    with torch.no_grad():
        logits, analysis = model(tiny_batch(cfg), return_analysis=True)
    assert logits.shape == (BATCH, 8 if head == "iemocap" else 3)
    extra_names = tuple(name for name, _ in cfg.extras)
    expected_inputs = FINAL_INPUTS[variant] + (extra_names if FINAL_INPUTS[variant] else ())
    assert tuple(model.final_inputs) == expected_inputs
    gates, tokens = analysis["gates"], analysis["tokens"]
    for name, gate in gates.items():
        assert gate.shape[0] == BATCH, name
        assert float(gate.min()) >= 0.0 and float(gate.max()) <= 1.0, name
    if expected_inputs:
        width = cfg.n_outputs if variant.startswith("bpmult") else cfg.d_model
        assert gates["final"].shape == (BATCH, len(expected_inputs), width)
        for n in expected_inputs:
            assert tokens[f"gmu_part_{n}"].shape == (BATCH, width), n
    if variant.startswith("bpmult"):
        level1 = ["A->V", "V->A", "L->A", "A->L", "V->L", "L->V"]
        level2 = ["(A->V)->L", "(V->A)->L", "(A->L)->V", "(L->A)->V", "(V->L)->A", "(L->V)->A"]
        for name in level1 + level2:
            assert tokens[name].shape == (BATCH, cfg.d_model), name
        has_fgmu = variant not in ("bpmult_with_transformer", "bpmult_no_fgmu", "bpmult_no_fgmu_nor_rc", "bpmult_all_transformers")
        for m in "LVA":
            assert (f"top_{m}" in gates) == has_fgmu
            assert (f"middle_{m}" in gates) == (has_fgmu and variant != "bpmult_no_fgmu_middle")
            if has_fgmu:
                assert gates[f"top_{m}"].shape == (BATCH, cfg.d_model)
                assert tokens[f"H'_{m}"].shape == (BATCH, cfg.d_model)
        has_parallel = variant not in ("bpmult_no_parallel", "bpmult_all_transformers")
        assert ("parallel" in gates) == has_parallel and ("H_P" in tokens) == has_parallel
        if has_parallel:
            assert gates["parallel"].shape == (BATCH, 3, cfg.d_model)
        if variant == "bpmult_with_transformer":
            assert tokens["H_L"].shape == (BATCH, 2 * cfg.d_model)


@pytest.mark.parametrize("variant,extras,head", CASES)
def test_every_parameter_gets_a_gradient(variant, extras, head):
    cfg, model = make(variant, extras, head)
    with torch.no_grad():  # a head only c=3 wide can start with every ReLU unit dead; keep them alive
        for name, p in model.named_parameters():
            if name.endswith("proj1.bias"):
                p.fill_(1.0)
    model.train()
    model(tiny_batch(cfg)).square().sum().backward()
    unused = [n for n, p in model.named_parameters() if p.grad is None]
    assert not unused, unused
    zero = [n for n, p in model.named_parameters() if not bool(p.grad.abs().sum() > 0)]
    assert not zero, zero


@pytest.mark.parametrize("variant", VARIANTS)
def test_switched_off_modules_are_absent_from_the_state_dict(variant):
    _, model = make(variant, "poster", "multilabel")
    keys = list(model.state_dict())
    present, absent = MODULES[variant]
    for prefix in present:
        assert any(prefix in k for k in keys), f"{variant}: no {prefix}"
    for prefix in absent:
        assert not any(prefix in k for k in keys), f"{variant}: unexpected {prefix}"


@pytest.mark.parametrize("variant", VARIANTS)
def test_same_seed_gives_identical_outputs(variant):
    cfg, first = make(variant, "poster", "multilabel", seed=5)
    _, second = make(variant, "poster", "multilabel", seed=5)
    _, other = make(variant, "poster", "multilabel", seed=6)
    batch = tiny_batch(cfg)
    with torch.no_grad():
        assert torch.equal(first.eval()(batch), second.eval()(batch))
        assert not torch.equal(first(batch), other.eval()(batch))
        torch.manual_seed(1)
        train_a = first.train()(batch)
        torch.manual_seed(1)
        train_b = second.train()(batch)
    assert torch.equal(train_a, train_b)


def test_ablations_without_parameters_still_change_the_output():
    cfg, full = make("bpmult", "poster", "multilabel")
    no_rc_cfg, no_rc = make("bpmult_no_rc", "poster", "multilabel")
    assert count_parameters(full) == count_parameters(no_rc)
    no_rc.load_state_dict(full.state_dict())
    batch = tiny_batch(cfg)
    with torch.no_grad():
        assert not torch.allclose(full.eval()(batch), no_rc.eval()(batch))


def test_missing_or_misshaped_inputs_are_named():
    cfg, model = make("bpmult", "poster", "multilabel")
    batch = tiny_batch(cfg)
    with pytest.raises(KeyError, match="'poster'"):
        model({k: v for k, v in batch.items() if k != "poster"})
    with pytest.raises(ValueError, match=r"batch\['video'\] has shape \(3, 5, 11\), expected \(B, L, 10\)"):
        model({**batch, "video": torch.randn(3, 5, 11)})

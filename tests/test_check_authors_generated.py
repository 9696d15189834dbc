"""``bpmult check-authors`` on files of the authors' format written here from our own models.

The fixture writes its files with its own inverse name map (ours -> authors), written apart from
``bpmult.models.authors``: other sizes, lengths, head and layer counts, both final-GMU naming
styles, a permuted final-GMU order and a declared-unused parameter. A file passes only if the
package's forward map undoes this one exactly.
"""

import json
import re

import numpy as np
import pytest
import torch

from bpmult import cli
from bpmult.models import build_model, variant_config

L = {"text": "l", "video": "v", "audio": "a"}

CASES = {
    # the 4-input class: translating level 2, sequence residuals, audio encoder, poster; gates [L, V, A, poster, P]
    "four_input": dict(
        variant="bpmult", order=["L", "V", "A", "poster", "P"], style="N", lengths=dict(text=9, video=6, audio=20),
        overrides=dict(
            orig_d_text=14, orig_d_video=11, orig_d_audio=5, d_model=12, num_heads=3, layers=1, n_classes=4,
            extras=[["poster", 7]], len_text=9, len_video=6, len_audio=20, audio_encoder=True,
            audio_encoder_kernel=3, audio_encoder_stride=2, audio_encoder_len=6, parallel_len=4,
            token="first_plus_last", level1_residual_mode="sequence", final_gmu_out="hidden",
            parallel_fusion="gmu", parallel_layers=None, level2_layer="translating",
            translating_shared_weights=True, translating_query_norm=False, text_first_token_is_cls=True,
        ),
        unmatched={"extras.poster.bias": "zeros"},
    ),
    # the 3-input class: cross level 2, equal padded lengths, 2 layers; unused adapters declared
    "three_input": dict(
        variant="bpmult", order=["L", "V", "A", "P"], style="N", lengths=dict(text=5, video=8, audio=7),
        overrides=dict(
            orig_d_text=10, orig_d_video=6, orig_d_audio=9, d_model=8, num_heads=2, layers=2, n_classes=3,
            len_text=8, len_video=8, len_audio=8, parallel_len=3, token="first_plus_last",
            level1_residual_mode="sequence", final_gmu_out="hidden", parallel_fusion="gmu", parallel_layers=None,
            text_first_token_is_cls=True,
        ),
        unused=["transfm_*"],
    ),
    # MuLT-GMU, TextShifting4Layer names (hidden1.., x1_gate..), memory encoders of width 2d
    "mult_gmu": dict(
        variant="mult_gmu", order=["L", "V", "A", "poster"], style="4", lengths=dict(text=7, video=5, audio=4),
        overrides=dict(
            orig_d_text=9, orig_d_video=6, orig_d_audio=5, d_model=8, num_heads=4, layers=1, n_classes=5,
            extras=[["poster", 6]], len_text=7, len_video=5, len_audio=4,
        ),
    ),
}


def to_authors(name: str) -> str:
    """The fixture's own inverse map for one-to-one tensors."""
    rules = [
        (r"crossmodal\.(\w+?)_to_(\w+?)\.(.+)", lambda m: f"trans_{L[m[2]]}_with_{L[m[1]]}.{m[3]}"),
        (r"biprojection\.(\w+?)_to_(\w+?)_to_(\w+?)\.(.+)", lambda m: f"trans_{L[m[3]]}_with_{L[m[1]]}2{L[m[2]]}.{m[4]}"),
        (r"parallel\.encoders\.(\w+?)\.(.+)", lambda m: f"trans_{L[m[1]]}_early.{m[2]}"),
        (r"memory\.(\w+?)\.(.+)", lambda m: f"trans_{L[m[1]]}_mem.{m[2]}"),
        (r"inputs\.project\.(\w+?)\.weight", lambda m: f"proj_{L[m[1]]}.weight"),
        (r"parallel\.time_reduction\.(\w+?)\.weight", lambda m: f"proj_{L[m[1]]}_e.weight"),
        (r"inputs\.audio_encoder\.(.+)", lambda m: f"audio_enc.{m[1]}"),
        (r"extras\.poster\.(.+)", lambda m: f"proj_poster.{m[1]}"),
        (r"time_adapters\.(\w+?)_time_to_(\w+?)\.(.+)", lambda m: f"transfm_{L[m[1]]}2{L[m[2]]}.{m[3]}"),
        (r"head\.residual\.(proj[12])\.(.+)", lambda m: f"{m[1]}.{m[2]}"),
        (r"head\.out_layer\.(.+)", lambda m: f"out_layer.{m[1]}"),
        (r"(middle|top)_fgmu\.(\w+?)\.(hidden\.0|hidden\.1|gate)\.weight",
         lambda m: "gmu_{}{}.{}.weight".format(
             L[m[2]], "_m" if m[1] == "middle" else "", {"hidden.0": "hidden1", "hidden.1": "hidden2", "gate": "x_gate"}[m[3]])),
        (r"parallel\.fusion\.hidden\.(\d)\.weight", lambda m: f"gmu_early.hidden{int(m[1]) + 1}.weight"),
    ]
    for pattern, make in rules:
        if m := re.fullmatch(pattern, name):
            return make(m)
    raise AssertionError(f"fixture has no authors' name for {name}")


def authors_params(model, order: list[str], style: str) -> dict[str, np.ndarray]:
    state = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    out = {}
    ours = list(model.final_inputs)
    gmu = model.final_gmu
    k, width = len(ours), gmu.out_dim
    ours_cols = np.cumsum([0, *gmu.in_dims])
    for name, value in state.items():
        if name == "parallel.fusion.gate.weight":
            for i, rows in enumerate(np.split(value, 3, axis=0)):
                out[f"gmu_early.x{i + 1}_gate.weight"] = rows
        elif name.startswith("final_gmu."):
            continue
        else:
            out[to_authors(name)] = value
    gate_rows = np.split(state["final_gmu.gate.weight"], k, axis=0)  # row block j: our input j
    for a, label in enumerate(order):  # authors' input a is our input j
        j = ours.index(label)
        hidden = state[f"final_gmu.hidden.{j}.weight"]
        cols = np.concatenate([gate_rows[j][:, ours_cols[ours.index(b)]:ours_cols[ours.index(b) + 1]] for b in order],
                              axis=1)
        assert cols.shape == (width, sum(gmu.in_dims))
        if style == "N":
            out[f"gmu.hiddens.{a}.weight"], out[f"gmu.x_gates.{a}.weight"] = hidden, cols
        else:
            out[f"gmu.hidden{a + 1}.weight"], out[f"gmu.x{a + 1}_gate.weight"] = hidden, cols
    return out


def write_case(tmp_path, case: str, seed: int = 0):
    spec = CASES[case]
    cfg = variant_config(spec["variant"], **spec["overrides"])
    torch.manual_seed(seed)
    model = build_model(cfg).eval()
    with torch.no_grad():  # biases and norms off their initial values, as in the shared files
        for name, p in model.named_parameters():
            if name.endswith("bias") or "norm" in name:
                p.add_(0.2 * torch.randn_like(p))
        for name in spec.get("unmatched", {}):
            model.get_parameter(name).zero_()
    g = torch.Generator().manual_seed(seed + 1)
    batch = {m: torch.randn(2, n, cfg.orig_dims[m], generator=g) for m, n in spec["lengths"].items()}
    batch["text"][0, -2:] = 0.0  # right-padded text in sample 0
    for name, width in cfg.extras:
        batch[name] = torch.randn(2, width, generator=g)
    with torch.no_grad():
        logits, analysis = model(batch, return_analysis=True)
    gates = analysis["gates"]["final"]
    ours = list(model.final_inputs)
    arrays = {f"param.{n}": v for n, v in authors_params(model, spec["order"], spec["style"]).items()}
    for name in spec.get("unmatched", {}):
        arrays.pop(f"param.{to_authors(name)}")
    if spec.get("unused"):
        arrays["param.transfm_a2l.weight"] = np.ones((8, 8), np.float32)  # built, never used
    config = {
        "format": "bpmult-authors-reference/1",
        "bpmult": {"variant": spec["variant"], "overrides": spec["overrides"],
                   "unmatched_params": spec.get("unmatched", {}), "unused_authors_params": spec.get("unused", [])},
        "outputs": {"gates": {"order": spec["order"]}},
    }
    arrays["config"] = np.array(json.dumps(config))
    arrays.update({f"input.{n}": v.numpy() for n, v in batch.items()})
    arrays["output.logits"] = logits.numpy()
    arrays["output.gates"] = torch.cat([gates[:, ours.index(b)] for b in spec["order"]], dim=-1).numpy()
    path = tmp_path / f"{case}.npz"
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("case", CASES)
def test_a_generated_file_passes(tmp_path, case):
    assert cli.main(["check-authors", str(write_case(tmp_path, case))]) == 0


@pytest.mark.parametrize("case", CASES)
def test_a_generated_file_with_a_changed_gate_fails(tmp_path, case):
    path = write_case(tmp_path, case)
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    gate = "param.gmu.x_gates.1.weight" if CASES[case]["style"] == "N" else "param.gmu.x2_gate.weight"
    arrays[gate][0, -1] += 0.5  # a column of the last input, the one the permutation moves
    np.savez(path, **arrays)
    assert cli.main(["check-authors", str(path)]) == 1


def test_a_wrong_gate_order_fails(tmp_path):
    path = write_case(tmp_path, "four_input")
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    config = json.loads(str(arrays["config"]))
    config["outputs"]["gates"]["order"] = ["L", "V", "A", "P", "poster"]  # ours, not the file's
    arrays["config"] = np.array(json.dumps(config))
    np.savez(path, **arrays)
    assert cli.main(["check-authors", str(path)]) == 1  # the same widths: the values differ

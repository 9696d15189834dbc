"""``bpmult check-mult`` on the official MuLT reference file (tests/data/mult_aligned.npz)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from bpmult import cli
from bpmult.models import build_model
from bpmult.models.official import (
    check_reference,
    config_from_reference,
    official_to_ours,
    ours_to_official,
    read_reference,
)

REFERENCE = Path(__file__).parent / "data" / "mult_aligned.npz"



def copy_with(tmp_path: Path, name: str, change) -> Path:
    with np.load(REFERENCE) as data:
        arrays = {k: data[k] for k in data.files}
    change(arrays)
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def test_official_reference_passes(capsys):
    assert cli.main(["check-mult", str(REFERENCE)]) == 0
    out = capsys.readouterr().out
    diffs = {line.split()[0]: float(line.split()[-1]) for line in out.splitlines() if "max |ours" in line}
    assert set(diffs) == {"logits", "last_hs"}
    assert max(diffs.values()) <= 1e-5
    assert "PASS" in out


@pytest.mark.parametrize("name", [
    "param.trans_a_with_v.layers.1.fc2.bias",
    "param.trans_l_mem.layers.2.self_attn.in_proj_weight",
    "param.trans_v_with_l.layers.0.layer_norms.0.weight",
    "param.proj_l.weight",
    "param.out_layer.bias",
])
def test_perturbing_one_weight_fails(tmp_path, capsys, name):
    def perturb(arrays):
        flat = arrays[name].reshape(-1)
        flat[0] += 0.05
    path = copy_with(tmp_path, "perturbed.npz", perturb)
    assert cli.main(["check-mult", str(path)]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_official_names_map_one_to_one_onto_our_mult():
    ref = read_reference(REFERENCE)
    model = build_model(config_from_reference(ref.config))
    ours = {official_to_ours(name) for name in ref.params}
    assert ours == set(model.state_dict())
    assert {ours_to_official(n) for n in model.state_dict()} == set(ref.params)
    assert official_to_ours("trans_l_with_a.version") is None
    assert official_to_ours("trans_a_mem.embed_positions._float_tensor") is None
    assert official_to_ours("trans_l_with_a.layers.0.fc1.weight") == "crossmodal.audio_to_text.layers.0.fc1.weight"
    with pytest.raises(ValueError, match="not a parameter name"):
        official_to_ours("trans_x_with_y.layer_norm.weight")


def test_the_reference_exercises_padding():
    ref = read_reference(REFERENCE)
    assert (ref.inputs["text"][0, :4] == 0).all() and ref.config["attn_mask"]


def test_missing_file(tmp_path, capsys):
    assert cli.main(["check-mult", str(tmp_path / "absent.npz")]) == 2
    assert "absent.npz: no such reference file" in capsys.readouterr().err


def test_corrupt_file(tmp_path, capsys):
    path = tmp_path / "corrupt.npz"
    path.write_bytes(b"PK\x03\x04 this is not a zip archive")
    assert cli.main(["check-mult", str(path)]) == 2
    assert "not a readable .npz" in capsys.readouterr().err


def test_missing_output_key(tmp_path, capsys):
    path = copy_with(tmp_path, "no_last_hs.npz", lambda a: a.pop("output.last_hs"))
    assert cli.main(["check-mult", str(path)]) == 2
    assert "missing key 'output.last_hs'" in capsys.readouterr().err


def test_missing_parameter(tmp_path, capsys):
    path = copy_with(tmp_path, "no_proj1.npz", lambda a: a.pop("param.proj1.weight"))
    assert cli.main(["check-mult", str(path)]) == 2
    assert "missing ['proj1.weight']" in capsys.readouterr().err


def test_check_leaves_the_global_rng_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    check_reference(REFERENCE)
    assert torch.equal(torch.rand(3), expected)

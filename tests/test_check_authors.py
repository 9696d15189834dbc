"""``bpmult check-authors`` on the frozen outputs of the authors' BPMuLT and of MuLT-GMU (tests/data)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bpmult import cli
from bpmult.models.authors import (
    authors_model_config,
    authors_to_ours,
    check_authors,
    map_authors_params,
    read_authors_reference,
)
from bpmult.models.registry import build_model

DATA = Path(__file__).parent / "data"
FILES = {
    "moviescope": DATA / "bpmult_authors_moviescope.npz",
    "3input": DATA / "bpmult_authors_3input.npz",
    "mult_gmu": DATA / "mg_mult_gmu_tvap.npz",
}


def copy_with(tmp_path: Path, source: Path, change) -> Path:
    with np.load(source) as data:
        arrays = {k: data[k] for k in data.files}
    change(arrays)
    path = tmp_path / "changed.npz"
    np.savez(path, **arrays)
    return path


def printed_diffs(out: str) -> dict[str, float]:
    return {line.split()[0]: float(line.split()[-1]) for line in out.splitlines() if "max |ours" in line}


@pytest.mark.parametrize("key", FILES)
def test_the_authors_reference_files_pass(capsys, key):
    assert cli.main(["check-authors", str(FILES[key])]) == 0
    out = capsys.readouterr().out
    diffs = printed_diffs(out)
    assert set(diffs) == {"logits", "gates"} and max(diffs.values()) <= 1e-5
    assert "PASS" in out


@pytest.mark.parametrize("key,name", [
    ("moviescope", "param.gmu.x_gates.4.weight"),
    ("moviescope", "param.transfm_a2l.weight"),
    ("moviescope", "param.audio_enc.conv_layers.1.bias"),
    ("moviescope", "param.trans_v_early.layer_norm.bias"),
    ("3input", "param.gmu_early.x2_gate.weight"),
    ("3input", "param.gmu_l_m.x_gate.weight"),
    ("mult_gmu", "param.proj_poster.bias"),
    ("mult_gmu", "param.gmu.x4_gate.weight"),
])
def test_perturbing_one_weight_fails(tmp_path, capsys, key, name):
    def perturb(arrays):
        arrays[name].reshape(-1)[0] += 1e-2
    path = copy_with(tmp_path, FILES[key], perturb)
    assert cli.main(["check-authors", str(path)]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_a_weight_the_authors_forward_never_uses_changes_nothing(tmp_path):
    # the 3-input class builds transfm_* adapters but does not call them (declared unused)
    def perturb(arrays):
        arrays["param.transfm_a2l.weight"] += 1.0
    assert max(check_authors(copy_with(tmp_path, FILES["3input"], perturb)).values()) <= 1e-5


@pytest.mark.parametrize("key,overrides", [
    ("moviescope", dict(token="first_for_bert_text")),
    ("moviescope", dict(translating_query_norm=True)),
    ("3input", dict(token="last")),
    ("3input", dict(attn_mask=False)),
    ("mult_gmu", dict(attn_mask=False)),
])
def test_a_wrong_option_fails(key, overrides):
    assert max(check_authors(FILES[key], **overrides).values()) > 1e-4


def test_wrong_option_through_the_command_line(capsys):
    assert cli.main(["check-authors", str(FILES["3input"]), "--set", "token=last"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_swapped_parameter_sets_fail(tmp_path):
    def swap(arrays):
        for suffix in ("hidden1.weight", "hidden2.weight", "x_gate.weight"):
            a, b = f"param.gmu_l_m.{suffix}", f"param.gmu_l.{suffix}"
            arrays[a], arrays[b] = arrays[b], arrays[a]
    assert max(check_authors(copy_with(tmp_path, FILES["moviescope"], swap)).values()) > 1e-3


def test_without_the_poster_bias_the_authors_model_needs_no_filler():
    # the authors' proj_poster has no bias; with extra_bias=False ours has none either
    ref = read_authors_reference(FILES["moviescope"])
    model = build_model(authors_model_config(ref, extra_bias=False))
    assert "extras.poster.bias" not in map_authors_params(ref, model)
    assert max(check_authors(FILES["moviescope"], extra_bias=False, level2_dropout_by_key=True).values()) <= 1e-5


def test_an_incomplete_map_is_an_error_naming_the_tensor(capsys):
    # token-level residuals have no time adapters: the authors' transfm_* would be left over
    assert cli.main(["check-authors", str(FILES["moviescope"]), "--set", "level1_residual_mode=token"]) == 2
    err = capsys.readouterr().err
    assert "'transfm_a2l.weight'" in err and "not declared unused" in err and len(err.splitlines()) == 1


def test_a_missing_parameter_is_an_error_naming_it(tmp_path, capsys):
    path = copy_with(tmp_path, FILES["mult_gmu"], lambda a: a.pop("param.trans_v_mem.layers.1.fc2.bias"))
    assert cli.main(["check-authors", str(path)]) == 2
    err = capsys.readouterr().err
    assert "our 'memory.video.layers.1.fc2.bias' is not filled" in err and len(err.splitlines()) == 1


def test_an_unknown_parameter_is_an_error_naming_it(tmp_path, capsys):
    path = copy_with(tmp_path, FILES["3input"], lambda a: a.__setitem__("param.enc.bert.pooler.weight", np.ones(2)))
    assert cli.main(["check-authors", str(path)]) == 2
    assert "'enc.bert.pooler.weight' is not a parameter name" in capsys.readouterr().err


@pytest.mark.parametrize("change,message", [
    (lambda a: a.pop("output.gates"), "missing key 'output.gates'"),
    (lambda a: a.pop("input.poster"), "missing key 'input.poster'"),
    (lambda a: a.__setitem__("config", np.array("{not json")), "is not a JSON string"),
    (lambda a: a.__setitem__("config", np.array(json.dumps({"format": "other/1"}))), "config.format is 'other/1'"),
])
def test_bad_files_give_one_line_errors(tmp_path, capsys, change, message):
    path = copy_with(tmp_path, FILES["moviescope"], change)
    assert cli.main(["check-authors", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_missing_and_corrupt_files(tmp_path, capsys):
    assert cli.main(["check-authors", str(tmp_path / "absent.npz")]) == 2
    assert "absent.npz: no such reference file" in capsys.readouterr().err
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 not a zip archive")
    assert cli.main(["check-authors", str(corrupt)]) == 2
    assert "not a readable .npz" in capsys.readouterr().err


def test_the_name_map_examples():
    assert authors_to_ours("trans_l_with_v2a.layers.0.fc1.weight") == (
        "copy", "biprojection.video_to_audio_to_text.layers.0.fc1.weight", None)
    assert authors_to_ours("trans_a_with_l.layer_norm.bias") == ("copy", "crossmodal.text_to_audio.layer_norm.bias", None)
    assert authors_to_ours("proj_v_e.weight") == ("copy", "parallel.time_reduction.video.weight", None)
    assert authors_to_ours("gmu_v_m.x_gate.weight") == ("copy", "middle_fgmu.video.gate.weight", None)
    assert authors_to_ours("gmu_early.x3_gate.weight") == ("early_gate", "parallel.fusion.gate.weight", 2)
    assert authors_to_ours("gmu.hidden2.weight")[2] == authors_to_ours("gmu.hiddens.1.weight")[2] == 1
    with pytest.raises(ValueError, match="not a parameter name"):
        authors_to_ours("gmu.hidden2_gate.weight")


def test_as_a_process_it_exits_non_zero_on_failure():
    bad = subprocess.run(
        [sys.executable, "-m", "bpmult.cli", "check-authors", str(FILES["3input"]), "--atol", "1e-12"],
        capture_output=True, text=True,
    )
    assert bad.returncode == 1 and "FAIL" in bad.stdout

"""``bpmult check-mult`` on reference files written from our own MuLT with other shapes.

The shared official file has equal lengths (every attention square). These files cover Lq < Lk,
Lq > Lk (partly masked and fully unmasked), other head and layer counts, kernel 3, and a skipped
projection, to show the check handles any file of the format.
"""

import json

import numpy as np
import pytest
import torch

from bpmult import cli
from bpmult.models import build_model, variant_config
from bpmult.models.official import write_reference
from bpmult.models.parts import LEVEL1_PAIRS
from bpmult.nn.masks import masks_nothing

CASES = {
    # lengths text/audio/video chosen so that every crossmodal attention is partly masked
    "unaligned_partly_masked": dict(lens=dict(text=9, audio=7, video=12), d=12, heads=3, layers=1, kernel=3),
    # text much longer than video: trans_l_with_v is unmasked (Lq - Lk >= Lk - 1)
    "unaligned_unmasked": dict(lens=dict(text=11, audio=6, video=4), d=8, heads=1, layers=3, kernel=1),
    "aligned_other_heads": dict(lens=dict(text=5, audio=5, video=5), d=16, heads=8, layers=2, kernel=1),
}
WIDTHS = dict(text=13, audio=7, video=5)



def write_case(tmp_path, case, **overrides):
    spec = CASES[case]
    widths = {**WIDTHS, **overrides.pop("widths", {})}
    cfg = variant_config(
        "mult", orig_d_text=widths["text"], orig_d_audio=widths["audio"], orig_d_video=widths["video"],
        d_model=spec["d"], num_heads=spec["heads"], layers=spec["layers"], n_classes=3,
        kernel_text=spec["kernel"], kernel_audio=spec["kernel"], kernel_video=spec["kernel"], **overrides,
    )
    torch.manual_seed(7)
    model = build_model(cfg)
    with torch.no_grad():  # move biases and norms off their initial values
        for name, p in model.named_parameters():
            if name.endswith("bias") or "norm" in name:
                p.add_(0.2 * torch.randn_like(p))
    g = torch.Generator().manual_seed(3)
    batch = {m: torch.randn(2, n, widths[m], generator=g) for m, n in spec["lens"].items()}
    for m in batch:
        batch[m][0, :2] = 0.0  # left padding: zero positional embedding there
    path = tmp_path / f"{case}.npz"
    write_reference(path, model, batch)
    return path, spec


def rewrite(path, change):
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    change(arrays)
    np.savez(path, **arrays)


@pytest.mark.parametrize("case", CASES)
def test_generated_reference_passes(tmp_path, case):
    path, _ = write_case(tmp_path, case)
    assert cli.main(["check-mult", str(path)]) == 0


def test_the_cases_cover_every_mask_regime():
    regimes = set()
    for spec in CASES.values():
        for source, target in LEVEL1_PAIRS:
            lq, lk = spec["lens"][target], spec["lens"][source]
            kind = "equal" if lq == lk else ("shorter_query" if lq < lk else "longer_query")
            regimes.add((kind, masks_nothing(lq, lk)))
    assert {("equal", False), ("shorter_query", False), ("longer_query", False), ("longer_query", True)} <= regimes
    partly = CASES["unaligned_partly_masked"]["lens"]
    assert not any(masks_nothing(partly[t], partly[s]) for s, t in LEVEL1_PAIRS)


@pytest.mark.parametrize("case", ["unaligned_partly_masked", "aligned_other_heads"])
def test_the_mask_matters_so_a_wrong_mask_setting_fails(tmp_path, case):
    path, _ = write_case(tmp_path, case)

    def unmask(arrays):
        config = json.loads(str(arrays["config"]))
        arrays["config"] = np.array(json.dumps({**config, "attn_mask": False}))

    rewrite(path, unmask)
    assert cli.main(["check-mult", str(path)]) == 1


def test_wrong_head_count_fails(tmp_path):
    path, spec = write_case(tmp_path, "unaligned_partly_masked")

    def other_heads(arrays):
        config = json.loads(str(arrays["config"]))
        arrays["config"] = np.array(json.dumps({**config, "num_heads": 2}))

    rewrite(path, other_heads)
    assert cli.main(["check-mult", str(path)]) == 1


def test_unused_official_projection_of_a_width_d_modality_is_ignored(tmp_path):
    # official MuLT keeps proj_v in its state dict even when orig_d_v == d and skips it in forward
    path, spec = write_case(tmp_path, "aligned_other_heads", widths=dict(video=16))
    rewrite(path, lambda a: a.__setitem__("param.proj_v.weight", np.ones((16, 16, 1), np.float32)))
    assert cli.main(["check-mult", str(path)]) == 0

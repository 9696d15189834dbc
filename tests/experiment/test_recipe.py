"""Recipe tests (torchtune's style): a stored loss trajectory for one tiny BPMuLT run, and a model
that can overfit one batch.

The stored numbers were produced by this very recipe (d 8, one layer, 4 epochs, seed 1) on a
2-core x86-64 CPU with torch 2.13; a change to the model, the loss, the data order or the schedule
moves them far beyond the tolerance, while the ~1e-7 float noise between CPUs does not.
"""

from __future__ import annotations

import pytest
import torch

from bpmult import experiment as X
from bpmult.models import build_model, variant_config
from bpmult.train.losses import TaskLoss

from test_train import write_prepared

PARAMS = {"profile": "t", "t": {"seeds": [1], "definition": "paper", "moviescope": {
    "model": {"d_model": 8, "num_heads": 2, "layers": 1, "parallel_len": 4, "parallel_layers": 1,
              "audio_encoder_kernel": 4, "audio_encoder_stride": 2, "audio_encoder_len": 4},
    "train": {"batch_size": 16, "max_epochs": 4, "patience": 10, "lr": 0.003}}}}
# regenerated when the token-read encoders began computing only the token rows, when the CPU
# dropout mask became an integer draw (bpmult.nn.dropout), and when same-shape encoders began
# running as one group (bpmult.nn.encoder_group: one draw per group) with 15-bit draws on large
# tensors: each time another random stream, same distribution (docs/benchmarks.md)
TRAIN_LOSS = [1.167434553305308, 1.111472487449646, 1.0463051597277324, 1.036078969637553]
DEV_LOSS = [1.3014960289001465, 1.2308388948440552, 1.1762956380844116, 1.1374788284301758]


def test_the_loss_trajectory_of_a_tiny_run_is_the_stored_one(tmp_path):
    data = write_prepared(tmp_path / "p", shapes={"text": [6, 5], "video": [4, 3], "audio": [12, 2], "poster": [7]})
    X.train_experiment(X.plan(data, "bpmult", params=PARAMS), tmp_path / "run", progress=False)
    rows = (tmp_path / "run" / "seed_1" / "history.csv").read_text().splitlines()
    history = [dict(zip(rows[0].split(","), r.split(","))) for r in rows[1:]]
    assert [float(r["train_loss"]) for r in history] == pytest.approx(TRAIN_LOSS, abs=1e-5)
    assert [float(r["dev_loss"]) for r in history] == pytest.approx(DEV_LOSS, abs=1e-5)


@pytest.mark.parametrize("variant", ["bpmult", "mult", "mult_gmu"])
def test_the_model_overfits_one_batch(variant):
    torch.manual_seed(0)
    cfg = variant_config(variant, orig_d_text=5, orig_d_video=3, orig_d_audio=2, len_text=6, len_video=4, len_audio=7,
                         n_classes=3, head="multilabel", d_model=8, num_heads=2, layers=1, parallel_len=4,
                         parallel_layers=1, attn_dropout=0.0, relu_dropout=0.0, res_dropout=0.0, embed_dropout=0.0)
    model = build_model(cfg)
    batch = {"text": torch.randn(8, 6, 5), "video": torch.randn(8, 4, 3), "audio": torch.randn(8, 7, 2)}
    labels = (torch.rand(8, 3) > 0.5).float()
    loss_fn, optimizer = TaskLoss("multilabel"), torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(150):
        optimizer.zero_grad()
        loss = loss_fn(model(batch), labels)
        first = loss.item() if first is None else first
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.1 * first, (first, loss.item())

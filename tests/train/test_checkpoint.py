"""Checkpoints: every state round-trips through ``torch.load(weights_only=True)``; writes are atomic."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
import torch

from bpmult.atomic import atomic_write
from bpmult.train import artifacts
from bpmult.train import checkpoint as ckpt


def _draws():
    return (random.random(), random.gauss(0, 1), float(np.random.rand()), float(np.random.randn()),
            torch.rand(3).tolist())


def test_rng_states_round_trip_through_a_weights_only_file(tmp_path):
    random.seed(3), np.random.seed(3), torch.manual_seed(3)
    random.gauss(0, 1), np.random.randn()  # leave cached gaussians in both generators
    ckpt.atomic_torch_save(tmp_path / "rng.pt", ckpt.rng_state())
    expected = _draws()
    random.seed(99), np.random.seed(99), torch.manual_seed(99)
    assert _draws() != expected
    ckpt.set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert _draws() == expected


def test_checkpoint_holds_the_whole_training_state(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", patience=2, factor=0.5)
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    scheduler.step(0.7)
    history = [{"epoch": 1, "train_loss": 0.5, "dev_loss": float("nan"), "lr": 0.01}]
    config = {"train": {"lr": 0.01, "clip": None}, "model": {"extras": [["poster", 7]]}}
    ckpt.save_checkpoint(tmp_path / "c.pt", model=model, optimizer=optimizer, scheduler=scheduler, epoch=1,
                         best_metric=-math.inf, best_epoch=None, bad_epochs=2, history=history, config=config,
                         train_seconds=1.5, finished=False)
    state = ckpt.load_checkpoint(tmp_path / "c.pt")
    assert (state["epoch"], state["best_metric"], state["best_epoch"], state["bad_epochs"]) == (1, -math.inf, None, 2)
    assert state["config"] == config and state["train_seconds"] == 1.5 and state["finished"] is False
    assert state["history"][0]["train_loss"] == 0.5 and math.isnan(state["history"][0]["dev_loss"])
    assert all(torch.equal(state["model"][k], v) for k, v in model.state_dict().items())
    fresh = torch.nn.Linear(3, 2)
    fresh_opt = torch.optim.Adam(fresh.parameters(), lr=0.01)
    fresh_sched = torch.optim.lr_scheduler.ReduceLROnPlateau(fresh_opt, mode="max")
    fresh.load_state_dict(state["model"])
    fresh_opt.load_state_dict(state["optimizer"])
    fresh_sched.load_state_dict(state["scheduler"])
    assert fresh_sched.best == 0.7 and fresh_sched.patience == 2
    assert torch.equal(fresh_opt.state_dict()["state"][0]["exp_avg"], optimizer.state_dict()["state"][0]["exp_avg"])
    assert set(state["rng"]) == {"python", "numpy", "torch", "cuda"}


def test_load_checkpoint_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.pt"):
        ckpt.load_checkpoint(tmp_path / "nothing.pt")
    torch.save({"model": {}}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="foreign.pt: no digest file"):  # never verified: refused
        ckpt.load_checkpoint(tmp_path / "foreign.pt")
    ckpt.save_verified(tmp_path / "verified.pt", {"model": {}})  # verified, but not of our format
    with pytest.raises(ValueError, match="not a bpmult checkpoint"):
        ckpt.load_checkpoint(tmp_path / "verified.pt")


def test_a_flipped_byte_is_refused_naming_the_file(tmp_path):
    model = torch.nn.Linear(3, 2)
    path = ckpt.save_weights(tmp_path / "best.pt", model, epoch=1, metric=0.5, config={"a": 1})
    assert ckpt.load_checkpoint(path)["epoch"] == 1
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"best.pt: corrupt"):
        ckpt.load_checkpoint(path)


def test_digest_file_accepts_old_or_new_bytes_during_a_rewrite(tmp_path):
    # a kill between the digest update and the rename leaves the old checkpoint, which must still load
    path = ckpt.save_verified(tmp_path / "c.pt", {"format": ckpt.CHECKPOINT_FORMAT, "v": 1})
    old = ckpt.file_sha256(path)
    (tmp_path / "c.pt.sha256").write_text(json.dumps({"sha256": ["f" * 64, old]}))
    assert ckpt.load_checkpoint(path)["v"] == 1


def test_random_and_empty_files_are_refused_with_their_path(tmp_path):
    for name, data in [("empty.pt", b""), ("random.pt", bytes(range(256)) * 4)]:
        path = tmp_path / name
        path.write_bytes(data)
        (tmp_path / f"{name}.sha256").write_text(json.dumps({"sha256": [ckpt.file_sha256(path)]}))
        with pytest.raises(ValueError, match=f"{name}: cannot be read as a bpmult checkpoint"):
            ckpt.load_checkpoint(path)


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "metrics.json"
    artifacts.atomic_write_json(target, {"a": 1})

    def failing(handle):
        handle.write(b"{partial")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError, match="mid-write"):
        atomic_write(target, failing)
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temporary file left


def test_json_is_strict_with_nan_as_null(tmp_path):
    path = artifacts.atomic_write_json(tmp_path / "m.json", {"x": float("nan"), "y": np.float32(2.5), "z": (1, np.int64(2)),
                                                         "w": float("inf")})
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"x": None, "y": 2.5, "z": [1, 2], "w": None}


def test_savez_refuses_object_arrays_and_reads_without_pickle(tmp_path):
    artifacts.atomic_savez(tmp_path / "a.npz", {"ids": np.asarray(["a", "b"]), "x": np.zeros((2, 3), np.float32)})
    with np.load(tmp_path / "a.npz", allow_pickle=False) as archive:
        assert list(archive["ids"]) == ["a", "b"] and archive["x"].shape == (2, 3)
    with pytest.raises(ValueError, match="object"):
        artifacts.atomic_savez(tmp_path / "b.npz", {"bad": np.asarray([{"a": 1}], dtype=object)})

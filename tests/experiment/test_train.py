"""The training loop: losses, accumulation, clipping, early stopping, LR schedule, errors, artifacts.

The loop is model-agnostic, so most tests drive it with ``TinyModel`` (a few parameters, the
design.md §2 forward) on a small prepared-data folder written here in the design.md §1 format.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from bpmult import experiment as X
from bpmult import train as T
from bpmult.train import engine
from bpmult.train.checkpoint import load_checkpoint
from bpmult.train.config import TrainConfig

MOVIE_GENRES = ["Action", "Comedy", "Drama"]


# ----------------------------------------------------------------------------- doubles
class TinyModel(nn.Module):
    """Mean-pools each sequence, concatenates the extras and maps to logits; a gate for analysis."""

    def __init__(self, dims: dict[str, int], n_out: int, *, nan_at_call: int | None = None):
        super().__init__()
        self.names = list(dims)
        self.proj = nn.ModuleDict({k: nn.Linear(d, 4) for k, d in dims.items()})
        self.dropout = nn.Dropout(0.2)  # consumes the torch RNG, as real models do
        self.out = nn.Linear(4 * len(dims), n_out)
        self.final_inputs = [n[0].upper() for n in self.names]
        self.nan_at_call, self.calls = nan_at_call, 0

    def forward(self, batch, return_analysis=False):
        self.calls += 1
        parts = []
        for name in self.names:
            x = batch[name]
            parts.append(torch.tanh(self.proj[name](x.mean(dim=1) if x.ndim == 3 else x)))
        h = self.dropout(torch.cat(parts, dim=-1))
        logits = self.out(h)
        if self.nan_at_call is not None and self.calls >= self.nan_at_call:
            logits = logits * float("nan")
        if not return_analysis:
            return logits
        gates = torch.sigmoid(torch.stack(parts, dim=1))  # (B, k, 4)
        return logits, {"gates": {"final": gates}, "tokens": {f"h_{n}": p for n, p in zip(self.names, parts)}}


def tiny_factory(**kwargs):
    def factory(variant, model_kwargs):
        dims = {"text": model_kwargs["orig_d_text"], "video": model_kwargs["orig_d_video"],
                "audio": model_kwargs["orig_d_audio"], **dict(model_kwargs["extras"])}
        n_out = model_kwargs["n_classes"] * (2 if model_kwargs["head"] == "iemocap" else 1)
        return TinyModel(dims, n_out, **kwargs), {"variant": variant, **model_kwargs}
    return factory


def write_prepared(root: Path, *, dataset: str = "moviescope", task: str = "multilabel",
                   sizes=(48, 16, 16), seed: int = 0, poster: bool = True, metadata: bool = False,
                   shapes: dict[str, list[int]] | None = None) -> Path:
    """A prepared-data folder (design.md §1) whose labels depend on the features."""
    rng = np.random.default_rng(seed)
    shapes = dict(shapes or {"text": [6, 5], "video": [4, 3], "audio": [5, 2]})
    if poster:
        shapes.setdefault("poster", [7])
    if metadata:
        shapes["metadata"] = [3]
    names = MOVIE_GENRES if task == "multilabel" else ["Neutral", "Happy", "Sad", "Angry"]
    splits = {}
    for split, n in zip(("train", "dev", "test"), sizes):
        folder = root / split
        folder.mkdir(parents=True)
        arrays = {k: rng.standard_normal((n, *s)).astype(np.float32) for k, s in shapes.items()}
        signal = np.stack([arrays["text"][:, :, c].mean(1) + arrays["video"][:, :, c % 3].mean(1)
                           for c in range(len(names))], axis=1)
        label = (signal > 0).astype(np.float32 if task == "multilabel" else np.int64)
        for k, a in {**arrays, "label": label}.items():
            np.save(folder / f"{k}.npy", a)
        (folder / "ids.json").write_text(json.dumps([f"{split}{i:03d}" for i in range(n)]))
        splits[split] = {"n": n}
    manifest = {"dataset": dataset, "task": task, "label_names": names, "splits": splits,
                "modalities": shapes, "text_encoder": {"name": "minilm", "first_token_is_cls": True},
                "synthetic": True, "sources": {}, "created": "test"}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


@pytest.fixture
def movie_dir(tmp_path):
    return write_prepared(tmp_path / "prepared")


# ----------------------------------------------------------------------------- losses
def test_pos_weight_is_n_over_freq_with_zero_guard():
    labels = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [1, 0, 0]], dtype=np.float32)
    assert torch.allclose(T.pos_weight(labels), torch.tensor([4 / 3, 2.0, 1.0]))
    with pytest.raises(ValueError, match="N, C"):
        T.pos_weight(np.zeros(4))


def test_multilabel_loss_is_weighted_bce():
    logits = torch.tensor([[0.3, -1.2], [2.0, 0.1], [-0.5, 0.7]])
    labels = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    weight = torch.tensor([3.0, 1.5])
    p = torch.sigmoid(logits)
    manual = -(weight * labels * p.log() + (1 - labels) * (1 - p).log()).mean()
    assert torch.allclose(T.TaskLoss("multilabel", weight)(logits, labels), manual)
    unweighted = -(labels * p.log() + (1 - labels) * (1 - p).log()).mean()
    assert torch.allclose(T.TaskLoss("multilabel")(logits, labels), unweighted)


def test_iemocap_loss_is_cross_entropy_per_emotion_on_neg_pos_pairs():
    logits = torch.tensor([[0.0, 2.0, 1.0, -1.0, 0.5, 0.5, 3.0, 0.0],
                           [1.0, 0.0, 0.0, 0.0, -2.0, 2.0, 0.0, 1.0]])
    labels = torch.tensor([[1, 0, 1, 0], [0, 1, 1, 1]])
    manual = []
    for b in range(2):
        for e in range(4):
            neg, pos = logits[b, 2 * e], logits[b, 2 * e + 1]
            chosen = pos if labels[b, e] == 1 else neg
            manual.append(torch.logsumexp(torch.stack([neg, pos]), 0) - chosen)
    assert torch.allclose(T.TaskLoss("iemocap")(logits, labels), torch.stack(manual).mean())
    probs = T.probabilities("iemocap", logits)
    assert probs.shape == (2, 4, 2)
    assert torch.allclose(probs.sum(-1), torch.ones(2, 4))
    assert probs[0, 0, 1] > 0.8  # emotion 0's positive logit is index 1
    with pytest.raises(ValueError, match="2 per emotion"):
        T.iemocap_loss(logits[:, :6], labels)
    with pytest.raises(ValueError, match="task"):
        T.TaskLoss("regression")


# ----------------------------------------------------------------------------- one epoch
class _Rows(torch.utils.data.Dataset):
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i], "label": self.y[i]}


class _Linear(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.lin = nn.Linear(5, 3)

    def forward(self, batch, return_analysis=False):
        return self.lin(batch["x"])


def _epoch(batch_size, grad_accum, n=16, clip=None, lr=0.1):
    g = torch.Generator().manual_seed(1)
    data = _Rows(torch.randn(n, 5, generator=g), (torch.rand(n, 3, generator=g) > 0.5).float())
    model = _Linear()
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    loader = DataLoader(data, batch_size=batch_size, shuffle=False)
    stats = T.train_one_epoch(model, loader, T.TaskLoss("multilabel"), opt, device=torch.device("cpu"), epoch=1,
                              grad_accum=grad_accum, clip=clip, progress=False)
    return model, stats


def test_gradient_accumulation_matches_a_larger_batch():
    big, big_stats = _epoch(batch_size=8, grad_accum=1)
    acc, acc_stats = _epoch(batch_size=4, grad_accum=2)
    assert big_stats["steps"] == acc_stats["steps"] == 2
    for p, q in zip(big.parameters(), acc.parameters()):
        assert torch.allclose(p, q, atol=1e-6)
    unaccumulated, _ = _epoch(batch_size=4, grad_accum=1)
    assert not torch.allclose(unaccumulated.lin.weight, big.lin.weight, atol=1e-4)  # the test can fail


def test_short_last_group_is_stepped_and_averaged():
    # 12 rows, batch 4, accumulation 2: groups of 2 and 1 micro-batches → 2 steps, the same as batch 8 then 4
    acc, stats = _epoch(batch_size=4, grad_accum=2, n=12)
    ref, ref_stats = _epoch(batch_size=8, grad_accum=1, n=12)
    assert stats["steps"] == ref_stats["steps"] == 2
    for p, q in zip(acc.parameters(), ref.parameters()):
        assert torch.allclose(p, q, atol=1e-6)


def test_gradient_clipping_bounds_the_update():
    start = _Linear()
    clipped, _ = _epoch(batch_size=16, grad_accum=1, clip=1e-3, lr=1.0)
    free, _ = _epoch(batch_size=16, grad_accum=1, lr=1.0)
    delta = lambda m: torch.sqrt(sum(((p - q) ** 2).sum() for p, q in zip(m.parameters(), start.parameters())))
    assert delta(clipped) <= 1e-3 + 1e-6  # SGD step = lr · clipped gradient
    assert delta(free) > 1e-2


def test_non_finite_loss_stops_with_epoch_and_step(movie_dir, tmp_path):
    cfg = TrainConfig(batch_size=16, max_epochs=3)
    with pytest.raises(T.NonFiniteLossError, match=r"epoch 1, step 2 of 3"):
        X.train_run(movie_dir, "tiny", tmp_path / "run", 1, train=cfg, progress=False,
                    model_factory=tiny_factory(nan_at_call=2))


# ----------------------------------------------------------------------------- early stopping, LR
def _scripted_evaluate(scores, metric="ap_micro"):
    calls = iter(scores)

    def evaluate(model, loader, loss_fn, **kwargs):
        return {"loss": 1.0, metric: next(calls), "other": 0.0}
    return evaluate


def test_early_stopping_and_plateau_schedule(movie_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "evaluate", _scripted_evaluate([50, 60, 55, 60, 59, 58, 99, 99]))
    cfg = TrainConfig(batch_size=16, lr=0.01, max_epochs=8, patience=4, lr_patience=1, lr_factor=0.5)
    result = X.train_run(movie_dir, "tiny", tmp_path / "run", 1, train=cfg, progress=False, model_factory=tiny_factory())
    # epoch 2 is best (60; a tie at epoch 4 is no improvement); epochs 3-6 do not improve → stop after 6
    assert result["best_epoch"] == 2 and result["epochs"] == 6
    assert result["dev"]["ap_micro"] == 60
    history = (tmp_path / "run" / "history.csv").read_text().splitlines()
    rows = [dict(zip(history[0].split(","), line.split(","))) for line in history[1:]]
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    # ReduceLROnPlateau(max, patience 1): bad epochs 3, 4 → halve after epoch 4; bad 5, 6 → again after 6
    assert [float(r["lr"]) for r in rows] == [0.01, 0.01, 0.01, 0.01, 0.005, 0.005]
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert state["bad_epochs"] == 4 and state["finished"] and state["best_epoch"] == 2
    assert state["lr"] == 0.0025  # the schedule's last halving, after epoch 6
    assert state["slim"] and state["model"] == {} and state["optimizer"] == {}  # finished: no weights, no Adam state
    assert load_checkpoint(tmp_path / "run" / "best.pt")["epoch"] == 2


def test_nan_dev_metric_never_counts_as_improvement(movie_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "evaluate", _scripted_evaluate([math.nan, 40, math.nan, math.nan]))
    cfg = TrainConfig(batch_size=16, max_epochs=4, patience=2)
    result = X.train_run(movie_dir, "tiny", tmp_path / "run", 1, train=cfg, progress=False, model_factory=tiny_factory())
    assert result["best_epoch"] == 2 and result["epochs"] == 4


def test_max_epochs_bounds_training(movie_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "evaluate", _scripted_evaluate([1, 2, 3, 4]))
    cfg = TrainConfig(batch_size=16, max_epochs=3, patience=1)
    result = X.train_run(movie_dir, "tiny", tmp_path / "run", 1, train=cfg, progress=False, model_factory=tiny_factory())
    assert result["best_epoch"] == 3 and result["epochs"] == 3


# ----------------------------------------------------------------------------- artifacts
def test_train_seeds_writes_every_artifact(movie_dir, tmp_path):
    params = {"profile": "p", "p": {"seeds": [1, 2], "moviescope": {"train": {"batch_size": 16, "max_epochs": 3}}}}
    run = tmp_path / "run"
    summary = X.train_seeds(movie_dir, "bpmult", run, params=params, progress=False, model_factory=tiny_factory())
    for seed in (1, 2):
        d = run / f"seed_{seed}"
        assert {p.name for p in d.iterdir()} == {"metrics.json", "history.csv", "predictions.npz", "analysis.npz",
                                                 "config.json", "checkpoint.pt", "best.pt",
                                                 "checkpoint.pt.sha256", "best.pt.sha256"}
        m = json.loads((d / "metrics.json").read_text())
        assert set(m) >= {"dev", "test", "best_epoch", "train_seconds", "n_params", "epochs", "selection_metric"}
        assert set(m["test"]) == {"loss", "ap_micro", "ap_macro", "ap_samples", "f1_micro", "f1_macro"}
        assert set(m["dev"]) == set(m["test"])
        assert m["n_params"] == sum(p.numel() for p in tiny_factory()("x", _kwargs(movie_dir))[0].parameters())
        header = (d / "history.csv").read_text().splitlines()[0].split(",")
        assert header[:3] == ["epoch", "train_loss", "dev_loss"] and header[-1] == "lr" and "dev_ap_micro" in header
        with np.load(d / "predictions.npz", allow_pickle=False) as pred:
            assert pred["probs"].shape == (16, 3) and pred["labels"].shape == (16, 3)
            assert list(pred["ids"][:2]) == ["test000", "test001"]
            assert list(pred["label_names"]) == MOVIE_GENRES
            assert ((pred["probs"] >= 0) & (pred["probs"] <= 1)).all()
        with np.load(d / "analysis.npz", allow_pickle=False) as analysis:
            assert analysis["gates/final"].shape == (16, 4, 4)
            assert set(analysis.files) == {"gates/final", "tokens/h_text", "tokens/h_video", "tokens/h_audio",
                                           "tokens/h_poster", "final_inputs"}
            assert list(analysis["final_inputs"]) == ["T", "V", "A", "P"]
        config = json.loads((d / "config.json").read_text())
        assert config["train"]["batch_size"] == 16 and config["seed"] == seed and config["profile"] == "p"
        assert config["model"]["extras"] == [["poster", 7]] and config["modalities"] == "TVAP"
        assert set(config["versions"]) == {"python", "torch", "numpy", "sklearn", "bpmult"}
        assert config["device"].startswith("cpu")
    per_seed = [json.loads((run / f"seed_{s}" / "metrics.json").read_text()) for s in (1, 2)]
    values = [m["test"]["ap_micro"] for m in per_seed]
    assert summary == json.loads((run / "summary.json").read_text())
    assert summary["test"]["ap_micro"]["mean"] == pytest.approx(np.mean(values))
    assert summary["test"]["ap_micro"]["std"] == pytest.approx(np.std(values, ddof=1))
    assert summary["test"]["ap_micro"]["n"] == 2 and summary["seeds"] == [1, 2]
    assert set(summary["dev"]) == set(summary["test"])
    assert summary["variant"] == "bpmult" and summary["dataset"] == "moviescope"
    assert values[0] != values[1]  # the seeds differ


def _kwargs(movie_dir):
    manifest = json.loads((movie_dir / "manifest.json").read_text())
    return X.model_inputs(manifest, "moviescope", ("poster",))


def test_summary_of_one_seed_has_zero_std_and_n_1(movie_dir, tmp_path):
    params = {"profile": "p", "p": {"seeds": [3], "moviescope": {"train": {"batch_size": 16, "max_epochs": 1}}}}
    summary = X.train_seeds(movie_dir, "bpmult", tmp_path / "run", params=params, progress=False,
                            model_factory=tiny_factory())
    assert summary["test"]["ap_micro"]["std"] == 0.0 and summary["test"]["ap_micro"]["n"] == 1


def test_summarize_recomputes_and_skips_missing_values(tmp_path):
    for seed, value in ((1, 10.0), (2, None), (4, 14.0)):
        (tmp_path / f"seed_{seed}").mkdir()
        (tmp_path / f"seed_{seed}" / "metrics.json").write_text(json.dumps(
            {"dev": {"m": 1.0}, "test": {"m": value}, "best_epoch": seed, "train_seconds": 1.0, "n_params": 5}))
    summary = T.summarize(tmp_path)
    assert summary["seeds"] == [1, 2, 4]
    assert summary["test"]["m"] == {"mean": 12.0, "std": pytest.approx(math.sqrt(8.0)), "n": 2}
    assert summary["run"]["best_epoch"]["mean"] == pytest.approx(7 / 3)
    assert T.summarize(tmp_path, seeds=[4])["test"]["m"] == {"mean": 14.0, "std": 0.0, "n": 1}
    with pytest.raises(FileNotFoundError, match="seed_3"):
        T.summarize(tmp_path, seeds=[3])
    with pytest.raises(FileNotFoundError, match="train first"):
        T.summarize(tmp_path / "nothing")


def test_iemocap_task_end_to_end_with_a_double(tmp_path):
    data = write_prepared(tmp_path / "iemo", dataset="iemocap_aligned", task="iemocap", poster=False)
    result = X.train_run(data, "mult", tmp_path / "run", 1, train=TrainConfig(batch_size=16, max_epochs=2),
                         progress=False, model_factory=tiny_factory())
    assert {"neutral_acc", "angry_f1", "sad_auc", "avg_acc", "avg_f1", "avg_auc", "loss"} == set(result["test"]) & {
        "neutral_acc", "angry_f1", "sad_auc", "avg_acc", "avg_f1", "avg_auc", "loss"}
    with np.load(tmp_path / "run" / "predictions.npz") as pred:
        assert pred["probs"].shape == (16, 4, 2) and pred["labels"].dtype == np.int64
    assert result["selection_metric"] == "avg_acc"


# ----------------------------------------------------------------------------- inputs and checks
def test_modalities_and_model_inputs(tmp_path):
    data = write_prepared(tmp_path / "d", metadata=True)
    manifest = json.loads((data / "manifest.json").read_text())
    assert X.resolve_modalities(manifest, None) == ("TVAP", ("poster",))
    assert X.resolve_modalities(manifest, "tvapm") == ("TVAPM", ("poster", "metadata"))
    for bad in ("TVX", "VA", "TVAPP"):
        with pytest.raises(ValueError, match="TVA"):
            X.resolve_modalities(manifest, bad)
    no_poster = json.loads((write_prepared(tmp_path / "e", poster=False) / "manifest.json").read_text())
    assert X.resolve_modalities(no_poster, None) == ("TVA", ())
    assert X.resolve_modalities(no_poster, "TVAP") == ("TVA", ())  # IEMOCAP, MOSEI: no poster to add
    with pytest.raises(ValueError, match="metadata"):
        X.resolve_modalities(no_poster, "TVAPM")
    assert X.resolve_modalities(manifest, "TVA") == ("TVA", ())
    kwargs = X.model_inputs(manifest, "moviescope", ("poster", "metadata"))
    assert kwargs == {"orig_d_text": 5, "orig_d_video": 3, "orig_d_audio": 2, "len_text": 6, "len_video": 4,
                      "len_audio": 5, "extras": (("poster", 7), ("metadata", 3)), "n_classes": 3,
                      "head": "multilabel", "audio_encoder": True, "text_first_token_is_cls": True}
    assert X.model_inputs(manifest, "mmimdb", ())["audio_encoder"] is False


def test_dataset_name_must_match_the_manifest(movie_dir, tmp_path):
    with pytest.raises(ValueError, match="'moviescope'.*'mosei'"):
        X.train_run(movie_dir, "tiny", tmp_path / "run", 1, dataset="mosei", progress=False,
                    model_factory=tiny_factory())


def test_resume_refuses_another_config_and_reuses_a_finished_run(movie_dir, tmp_path):
    run = tmp_path / "run"
    cfg = TrainConfig(batch_size=16, max_epochs=2)
    first = X.train_run(movie_dir, "tiny", run, 1, train=cfg, progress=False, model_factory=tiny_factory())
    stamp = (run / "metrics.json").stat().st_mtime_ns
    again = X.train_run(movie_dir, "tiny", run, 1, train=cfg, resume=True, progress=False, model_factory=tiny_factory())
    assert again == first and (run / "metrics.json").stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="another config"):
        X.train_run(movie_dir, "tiny", run, 1, train=TrainConfig(batch_size=8, max_epochs=2), resume=True,
                    progress=False, model_factory=tiny_factory())
    # without --resume the old state is discarded and the run starts over: same seed, same result
    fresh = X.train_run(movie_dir, "tiny", run, 1, train=cfg, progress=False, model_factory=tiny_factory())
    assert fresh["test"] == first["test"]


def test_deterministic_mode_is_restored():
    before = torch.are_deterministic_algorithms_enabled()
    with T.deterministic_algorithms(True, torch.device("cpu")):
        assert torch.are_deterministic_algorithms_enabled() == before  # CPU: nothing to switch
    if torch.cuda.is_available():
        with T.deterministic_algorithms(True, torch.device("cuda")):
            assert torch.are_deterministic_algorithms_enabled()
        assert torch.are_deterministic_algorithms_enabled() == before


def test_pick_device():
    assert T.pick_device("cpu") == torch.device("cpu")
    assert T.pick_device().type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_cpu_threads_apply_during_training_and_are_restored(movie_dir, tmp_path):
    torch.set_num_threads(2)
    try:
        X.train_run(movie_dir, "tiny", tmp_path / "run", 1, train=TrainConfig(batch_size=16, max_epochs=1, cpu_threads=1),
                    progress=False, model_factory=tiny_factory())
        assert torch.get_num_threads() == 2
        assert "1 threads" in json.loads((tmp_path / "run" / "config.json").read_text())["device"]
    finally:
        torch.set_num_threads(1)

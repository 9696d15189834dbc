"""Training the package's real models (bpmult.models) on prepared data read by bpmult.data."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from bpmult import cli
from bpmult import experiment as X
from bpmult import train as T
from bpmult.models import variant_config
from bpmult.train.config import TrainConfig

from test_train import write_prepared

SHAPES = {"text": [10, 12], "video": [8, 6], "audio": [16, 5]}
SMALL_MODEL = {"d_model": 8, "num_heads": 2, "layers": 1, "parallel_len": 4, "parallel_layers": 1,
               "audio_encoder_kernel": 4, "audio_encoder_stride": 2, "audio_encoder_len": 6}
ONE_EPOCH = TrainConfig(batch_size=8, max_epochs=1)

CASES = [  # dataset, task, variant, modalities, extras in the data
    ("moviescope", "multilabel", "bpmult", None, {"poster": [9]}),
    ("moviescope", "multilabel", "mult_gmu_no_encoder", "TVAPM", {"poster": [9], "metadata": [4]}),
    ("mmimdb", "multilabel", "gmu", None, {"poster": [9]}),
    ("iemocap_unaligned", "iemocap", "mult", None, {}),
    ("mosei", "multilabel", "bpmult_no_parallel", None, {}),
]


@pytest.mark.parametrize("dataset, task, variant, modalities, extras", CASES)
def test_real_variant_trains_and_writes_its_analysis(tmp_path, dataset, task, variant, modalities, extras):
    data = write_prepared(tmp_path / "data", dataset=dataset, task=task, sizes=(16, 8, 8), poster=False,
                          shapes={**SHAPES, **extras})
    if dataset == "mosei":  # 6 emotions, multi-hot
        manifest = json.loads((data / "manifest.json").read_text())
        manifest["label_names"] = ["anger", "disgust", "fear", "happy", "sad", "surprise"]
        (data / "manifest.json").write_text(json.dumps(manifest))
        for split in ("train", "dev", "test"):
            labels = np.load(data / split / "label.npy")
            np.save(data / split / "label.npy", np.concatenate([labels, labels], axis=1))
    run = tmp_path / "run"
    result = X.train_run(data, variant, run, 1, model_overrides=SMALL_MODEL, train=ONE_EPOCH, modalities=modalities,
                         progress=False)
    assert T.selection_metric(dataset) in result["test"] and result["best_epoch"] == 1
    config = json.loads((run / "config.json").read_text())
    expected = variant_config(variant, **X.model_inputs(json.loads((data / "manifest.json").read_text()), dataset,
                                                        tuple(extras) if modalities == "TVAPM" or dataset != "moviescope"
                                                        else ("poster",)), **SMALL_MODEL)
    assert config["model"] == json.loads(json.dumps(dataclasses.asdict(expected)))
    with np.load(run / "analysis.npz", allow_pickle=False) as analysis:
        names = list(analysis["final_inputs"])
        if variant != "mult":  # MuLT concatenates; every other variant ends in a GMU
            assert analysis["gates/final"].shape[:2] == (8, len(names))
        if modalities == "TVAPM":
            assert names[-2:] == ["poster", "metadata"]
        assert all(analysis[k].shape[0] == 8 for k in analysis.files if k != "final_inputs")
    with np.load(run / "predictions.npz", allow_pickle=False) as pred:
        n_labels = np.load(data / "test" / "label.npy").shape[1]
        assert pred["probs"].shape == ((8, 4, 2) if task == "iemocap" else (8, n_labels))


@pytest.mark.parametrize("variant", ["bpmult", "mult"])
def test_real_models_beat_the_label_prior(tmp_path, variant):
    data = write_prepared(tmp_path / "data", sizes=(64, 32, 32), shapes={**SHAPES, "poster": [9]})
    for split in ("train", "dev", "test"):  # every time step of the text carries the genres
        labels, text = np.load(data / split / "label.npy"), np.load(data / split / "text.npy")
        text[:, :, :3] += 1.5 * (2 * labels[:, None, :] - 1)
        np.save(data / split / "text.npy", text)
    result = X.train_run(data, variant, tmp_path / "run", 1, model_overrides=SMALL_MODEL, progress=False,
                         train=TrainConfig(batch_size=8, lr=0.003, max_epochs=3))
    prior = 100 * np.load(data / "test" / "label.npy").mean()  # AP of a constant score = positive rate
    assert result["test"]["ap_micro"] > prior + 15


def test_cli_train_with_overrides_then_summarize(tmp_path, capsys):
    data = write_prepared(tmp_path / "data", sizes=(16, 8, 8), shapes={**SHAPES, "poster": [9]})
    params = tmp_path / "params.yaml"
    params.write_text(json.dumps({"profile": "t", "t": {"seeds": [5], "moviescope": {
        "model": SMALL_MODEL, "train": {"batch_size": 8, "max_epochs": 3}}}}))
    run = tmp_path / "run"
    argv = ["train", "--dataset", "moviescope", "--model", "bpmult_no_rc", "--data", str(data), "--out", str(run),
            "--params", str(params), "--seeds", "1,3", "--set", "train.max_epochs=1", "--set", "model.d_model=4",
            "--no-progress"]
    assert cli.main(argv) == 0
    assert "test ap_micro" in capsys.readouterr().out
    assert sorted(p.name for p in run.glob("seed_*")) == ["seed_1", "seed_3"]
    config = json.loads((run / "seed_3" / "config.json").read_text())
    assert config["model"]["d_model"] == 4 and config["train"]["max_epochs"] == 1
    assert config["overrides"] == ["train.max_epochs=1", "model.d_model=4"] and config["profile"] == "t"
    (run / "summary.json").unlink()
    assert cli.main(["summarize", str(run)]) == 0
    assert json.loads((run / "summary.json").read_text())["test"]["ap_micro"]["n"] == 2
    # errors reach the user as one line naming the problem, not a stack trace
    assert cli.main([*argv[:-5], "--set", "train.lrr=1", "--no-progress"]) == 2
    assert "train.lrr" in capsys.readouterr().err

import json

import numpy as np
import pytest

from bpmult.report import prior, tables


def test_prior_probabilities_by_hand():
    train = np.array([[1, 0], [1, 1], [0, 0], [1, 0]])
    np.testing.assert_allclose(prior.prior_probabilities(train, 3, "multilabel"), [[0.75, 0.25]] * 3)
    iemocap = prior.prior_probabilities(np.array([[1, 0], [0, 0]]), 2, "iemocap")
    assert iemocap.shape == (2, 2, 2)
    np.testing.assert_allclose(iemocap[0], [[0.5, 0.5], [1.0, 0.0]])
    with pytest.raises(ValueError, match="multilabel"):
        prior.prior_probabilities(train, 3, "regression")


def _prepared(root, dataset, task, names, train, test):
    d = root / dataset
    for split, labels in (("train", train), ("dev", test), ("test", test)):
        (d / split).mkdir(parents=True)
        np.save(d / split / "label.npy", labels)
    (d / "manifest.json").write_text(json.dumps({"dataset": dataset, "task": task, "label_names": names}))
    return d


def test_prior_row_under_iemocap_table_is_majority_accuracy(tmp_path):
    train = np.array([[0, 1, 0, 0]] * 3 + [[1, 1, 0, 0]])      # neutral 25 %, happy 100 % positive
    test = np.array([[0, 1, 0, 1], [1, 0, 0, 0]])
    _prepared(tmp_path, "iemocap_aligned", "iemocap", ["neutral", "happy", "sad", "angry"], train, test)
    table = tables.load_paper_results()["table4_iemocap_aligned"]
    row = tables.compare_table(table, tmp_path / "runs", tmp_path)[-1]
    assert row["source"] == "prior" and row["cells"]["neutral_acc"].paper is None
    # majority per emotion: neutral negative (1 of 2 right), happy positive (1 of 2), sad negative (2), angry negative (1)
    assert [row["cells"][f"{e}_acc"].ours for e in ("neutral", "happy", "sad", "angry")] == [50.0, 50.0, 100.0, 50.0]
    assert row["cells"]["avg_acc"].ours == 62.5
    assert row["cells"]["sad_auc"].ours is None  # one-class test column: no AUC, not a number

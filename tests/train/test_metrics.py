"""Metrics against values computed by hand (comments show the arithmetic)."""

import math

import numpy as np
import pytest

from bpmult.train import metrics as M

# 4 samples × 3 classes; predictions at 0.5: [1,0,1], [0,1,0], [1,0,0], [0,1,1]
PROBS = np.array([[0.9, 0.2, 0.6], [0.4, 0.7, 0.1], [0.8, 0.3, 0.3], [0.1, 0.6, 0.7]])
LABELS = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]])


def test_moviescope_metrics_by_hand():
    out = M.moviescope_metrics(LABELS, PROBS)
    # AP per class: c0 .9(1) .8(1) → 1; c1 .7(1) .6(0) .3(1) → (1 + 2/3) / 2; c2 .7(1) .6(1) → 1
    assert out["ap_macro"] == pytest.approx(100 * (1 + 5 / 6 + 1) / 3)
    # micro over 12 pairs, 6 positives: thresholds .9 .8 .7 (4 TP) .6 (5 TP, 1 FP) .4 .3 (6 TP, 3 FP)
    assert out["ap_micro"] == pytest.approx(100 * (4 / 6 + (1 / 6) * (5 / 6) + (1 / 6) * (6 / 9)))
    # samples: s2 = [1,1,0] with scores .8 .3 .3 → .5·1 + .5·2/3; the others rank their positives first
    assert out["ap_samples"] == pytest.approx(100 * (3 + 5 / 6) / 4)
    # F1 per class at 0.5: c0 1, c1 (TP1 FP1 FN1) .5, c2 1; micro TP5 FP1 FN1 → 10/12
    assert out["f1_macro"] == pytest.approx(100 * 2.5 / 3)
    assert out["f1_micro"] == pytest.approx(100 * 10 / 12)
    assert set(out) == {"ap_micro", "ap_macro", "ap_samples", "f1_micro", "f1_macro"}


def test_mmimdb_metrics_by_hand():
    labels = np.array([[1, 0, 1], [1, 1, 0], [1, 0, 0], [0, 0, 1]])  # supports 3, 1, 2
    out = M.mmimdb_metrics(labels, PROBS)
    # per class F1: c0 TP2 FN1 → .8, c1 TP1 FP1 → 2/3, c2 → 1
    assert out["f1_macro"] == pytest.approx(100 * (0.8 + 2 / 3 + 1) / 3)
    assert out["f1_weighted"] == pytest.approx(100 * (3 * 0.8 + 2 / 3 + 2 * 1) / 6)
    assert out["f1_micro"] == pytest.approx(100 * 10 / 12)  # TP5 FP1 FN1
    assert out["f1_samples"] == pytest.approx(100 * (1 + 2 / 3 + 1 + 2 / 3) / 4)
    assert set(out) == {"f1_micro", "f1_macro", "f1_weighted", "f1_samples"}


def test_ap_skips_classes_and_samples_without_positives():
    labels = LABELS.copy()
    labels[:, 1] = 0  # class 1 has no positive; sample 1 then has none either
    out = M.average_precision(labels, PROBS)
    assert out["ap_macro"] == pytest.approx(100.0)  # classes 0 and 2 rank their positives first
    # samples 0, 2, 3 remain: s2 = [1,0,0] with .8 first → 1
    assert out["ap_samples"] == pytest.approx(100.0)
    empty = M.average_precision(np.zeros_like(LABELS), PROBS)
    assert all(math.isnan(v) for v in empty.values())


def test_weighted_accuracy_formula():
    truth, pred = np.array([1, 0, 1, 0, 0]), np.array([1, 1, 0, 0, 0])
    # P=2, N=3, TP=1, TN=2: (1·3/2 + 2) / 6 = mean(TPR .5, TNR 2/3)
    assert M.weighted_accuracy(truth, pred) == pytest.approx(3.5 / 6)
    assert math.isnan(M.weighted_accuracy(np.zeros(4), np.ones(4)))
    assert math.isnan(M.weighted_accuracy(np.ones(4), np.ones(4)))


def test_mosei_metrics_by_hand():
    labels = np.array([[1, 0], [0, 1], [1, 1], [0, 1], [0, 0]])
    probs = np.array([[0.7, 0.2], [0.6, 0.9], [0.4, 0.8], [0.2, 0.3], [0.1, 0.1]])
    out = M.mosei_metrics(labels, probs, emotions=("Anger", "Disgust"))
    assert out["anger_wacc"] == pytest.approx(100 * 3.5 / 6)
    assert out["anger_f1"] == pytest.approx(50.0)  # TP1 FP1 FN1
    # disgust: P=3, N=2, TP=2, TN=2 → (2·2/3 + 2) / 4; F1 TP2 FN1 → .8
    assert out["disgust_wacc"] == pytest.approx(100 * (4 / 3 + 2) / 4)
    assert out["disgust_f1"] == pytest.approx(80.0)
    assert out["avg_wacc"] == pytest.approx((out["anger_wacc"] + out["disgust_wacc"]) / 2)
    assert out["avg_f1"] == pytest.approx(65.0)


def test_mosei_degenerate_emotion_is_nan_and_left_out_of_the_average():
    labels = np.array([[1, 0], [0, 0], [1, 0], [0, 0], [0, 0]])  # emotion 2 never present
    probs = np.array([[0.7, 0.2], [0.6, 0.9], [0.4, 0.8], [0.2, 0.3], [0.1, 0.1]])
    out = M.mosei_metrics(labels, probs, emotions=("a", "b"))
    assert math.isnan(out["b_wacc"])
    assert out["avg_wacc"] == pytest.approx(out["a_wacc"])
    assert out["b_f1"] == 0.0  # zero_division=0


def _softmax_pairs(p_pos):
    p_pos = np.asarray(p_pos, dtype=float)
    return np.stack([1 - p_pos, p_pos], axis=-1)


def test_iemocap_metrics_by_hand():
    labels = np.array([[1, 0], [0, 0], [1, 0], [0, 1]])
    probs = _softmax_pairs([[0.8, 0.2], [0.6, 0.3], [0.4, 0.1], [0.1, 0.9]])
    out = M.iemocap_metrics(labels, probs, emotions=("neutral", "happy"))
    # neutral: argmax [1,1,0,0] vs [1,0,1,0] → acc .5; both classes F1 .5 (support 2 each)
    assert out["neutral_acc"] == pytest.approx(50.0)
    assert out["neutral_f1"] == pytest.approx(50.0)
    # AUC: positives .8 .4 vs negatives .6 .1 → 3 of 4 pairs ordered
    assert out["neutral_auc"] == pytest.approx(75.0)
    assert (out["happy_acc"], out["happy_f1"], out["happy_auc"]) == pytest.approx((100.0, 100.0, 100.0))
    assert out["avg_acc"] == pytest.approx(75.0)
    assert out["avg_f1"] == pytest.approx(75.0)
    assert out["avg_auc"] == pytest.approx(87.5)


def test_iemocap_weighted_f1_with_unequal_support():
    labels = np.array([[1], [1], [1], [0]])
    probs = _softmax_pairs([[0.9], [0.8], [0.2], [0.3]])  # pred 1,1,0,0
    out = M.iemocap_metrics(labels, probs, emotions=("sad",))
    # class 1: TP2 FN1 → .8 (support 3); class 0: TP1 FP1 → 2/3 (support 1)
    assert out["sad_f1"] == pytest.approx(100 * (3 * 0.8 + 2 / 3) / 4)
    assert out["sad_acc"] == pytest.approx(75.0)


def test_iemocap_one_class_emotion_has_nan_auc():
    labels = np.zeros((4, 4), dtype=np.int64)
    labels[:2, 0] = 1
    probs = _softmax_pairs(np.full((4, 4), 0.3))
    probs[0, 0] = [0.1, 0.9]
    out = M.iemocap_metrics(labels, probs)
    assert {f"{e}_{m}" for e in M.IEMOCAP_EMOTIONS for m in ("acc", "f1", "auc")} <= set(out)
    assert math.isnan(out["happy_auc"]) and not math.isnan(out["neutral_auc"])
    assert out["avg_auc"] == pytest.approx(out["neutral_auc"])


def test_shapes_are_checked():
    with pytest.raises(ValueError, match="N, C"):
        M.moviescope_metrics(LABELS, PROBS[:, :2])
    with pytest.raises(ValueError, match="N, E, 2"):
        M.iemocap_metrics(np.zeros((4, 4)), np.zeros((4, 4)))
    with pytest.raises(ValueError, match="emotion names"):
        M.mosei_metrics(LABELS, PROBS)


def test_dispatch_and_selection_metric():
    assert M.selection_metric("moviescope") == "ap_micro"
    assert M.selection_metric("mmimdb") == "f1_micro"
    assert M.selection_metric("iemocap_aligned") == M.selection_metric("iemocap_unaligned") == "avg_acc"
    assert M.selection_metric("mosei") == "avg_wacc"
    for dataset, metric in M.SELECTION_METRIC.items():
        if dataset.startswith("iemocap"):
            labels, probs = np.array([[1, 0, 1, 0], [0, 1, 0, 1]]), _softmax_pairs(np.full((2, 4), 0.4))
        elif dataset == "mosei":
            labels, probs = np.eye(6)[:4], np.full((4, 6), 0.4)
        else:
            labels, probs = LABELS, PROBS
        assert metric in M.compute_metrics(dataset, labels, probs)
    with pytest.raises(ValueError, match="known"):
        M.selection_metric("mnist")
    with pytest.raises(ValueError, match="known"):
        M.compute_metrics("mnist", LABELS, PROBS)


def test_metric_key():
    assert M.metric_key("Sci-Fi") == "sci_fi"
    assert M.metric_key("Neutral") == "neutral"

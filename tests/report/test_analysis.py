import numpy as np
import pytest

from bpmult.report import analysis


def test_gate_activation_by_hand():
    # 1 sample, 2 inputs, 4 units
    z = np.array([[[0.2, 0.6, 0.9, 0.1], [0.5, 0.5, 0.7, 0.9]]])
    act = analysis.gate_activation(z)
    np.testing.assert_allclose(act["mean_z"], [[0.45, 0.65]])
    # strictly above 0.5: 2 of 4, then 2 of 4 (0.5 itself does not count)
    np.testing.assert_allclose(act["share_above"], [[0.5, 0.5]])


def test_gate_activation_rejects_wrong_rank():
    with pytest.raises(ValueError, match=r"\(N, k, w\)"):
        analysis.gate_activation(np.zeros((3, 4)))


def test_activation_by_label_counts_every_label_of_a_sample():
    per_sample = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    labels = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0]])
    out = analysis.activation_by_label(per_sample, labels)
    np.testing.assert_allclose(out[0], [0.5, 0.5])     # samples 0 and 1
    np.testing.assert_allclose(out[1], [0.25, 0.75])   # samples 1 and 2
    assert np.isnan(out[2]).all()                      # no sample of class 2


def test_fgmu_pair_weights_second_input_by_one_minus_z():
    z = np.array([[0.2, 0.4], [1.0, 0.0]])
    np.testing.assert_allclose(analysis.fgmu_pair_activation(z), [[0.3, 0.7], [0.5, 0.5]])


def test_primary_label_is_rarest_class():
    labels = np.array([[1, 1, 0], [1, 0, 0], [1, 0, 1], [0, 0, 0]])
    # frequencies: 3, 1, 1 -> rarest among a sample's classes; ties go to the lower index
    np.testing.assert_array_equal(analysis.primary_label(labels), [1, 0, 2, -1])


def test_tsne_shape_and_separation():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 0.1, (15, 6))
    b = rng.normal(5, 0.1, (15, 6))
    xy = analysis.tsne_embedding(np.vstack([a, b]), seed=0)
    assert xy.shape == (30, 2)
    classes = np.array([0] * 15 + [1] * 15)
    assert analysis.cluster_separation(xy, classes) > 0.5
    shuffled = np.random.default_rng(1).permutation(classes)
    assert analysis.cluster_separation(xy, shuffled) < 0.2


def test_tsne_rejects_non_finite():
    x = np.ones((10, 3))
    x[2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        analysis.tsne_embedding(x)


def test_load_run_analysis_names_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="analysis.npz"):
        analysis.load_run_analysis(tmp_path, ["a"])

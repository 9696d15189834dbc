"""GMU (eq. 23), FGMU (eq. 9-12) and extended FGMU (eq. 20-22) against hand computations."""

import math

import pytest
import torch

from bpmult.nn import GMU, BimodalGMU, ExtendedFusionGMU, FusionGMU


def sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def matvec(w: list[list[float]], x: list[float]) -> list[float]:
    return [sum(wij * xj for wij, xj in zip(row, x)) for row in w]


def set_weights(linear: torch.nn.Linear, values: list[list[float]]) -> None:
    with torch.no_grad():
        linear.weight.copy_(torch.tensor(values))


W_V = [[0.5, -0.2], [0.1, 0.3]]
W_T = [[-0.4, 0.2], [0.6, 0.1]]
W_Z = [[0.2, -0.1, 0.3, 0.05], [-0.3, 0.4, 0.1, -0.2]]
X_V = [0.7, -1.2]
X_T = [1.5, 0.4]


def test_fgmu_eq_9_to_12_by_hand():
    unit = FusionGMU(dim=2)
    set_weights(unit.hidden[0], W_V)
    set_weights(unit.hidden[1], W_T)
    set_weights(unit.gate, W_Z)
    out = unit([torch.tensor([X_V]), torch.tensor([X_T])])
    h_v = [math.tanh(v) for v in matvec(W_V, X_V)]  # eq. 9
    h_t = [math.tanh(v) for v in matvec(W_T, X_T)]  # eq. 10
    z = [sigmoid(v) for v in matvec(W_Z, X_V + X_T)]  # eq. 11
    expected = [z[i] * h_v[i] * X_V[i] + (1 - z[i]) * h_t[i] * X_T[i] for i in range(2)]  # eq. 12
    assert torch.allclose(out.fused, torch.tensor([expected]), atol=1e-6)
    assert torch.allclose(out.gates, torch.tensor([z]), atol=1e-6)
    assert torch.allclose(out.parts.sum(-2), out.fused, atol=1e-6)


def test_extended_fgmu_eq_20_to_22_by_hand():
    xs = [[0.7, -1.2], [1.5, 0.4], [-0.3, 0.9]]
    ws = [W_V, W_T, [[0.3, 0.3], [-0.5, 0.2]]]
    wz = [[0.1 * ((i * 7 + j * 3) % 5 - 2) for j in range(6)] for i in range(6)]  # rows [W_z^1; W_z^2; W_z^3]
    unit = ExtendedFusionGMU(dim=2, num_inputs=3)
    for layer, w in zip(unit.hidden, ws):
        set_weights(layer, w)
    set_weights(unit.gate, wz)
    out = unit([torch.tensor([x]) for x in xs])
    concat = xs[0] + xs[1] + xs[2]
    gate_pre = matvec(wz, concat)
    expected = [0.0, 0.0]
    for i in range(3):
        h = [math.tanh(v) for v in matvec(ws[i], xs[i])]  # eq. 20
        z = [sigmoid(v) for v in gate_pre[2 * i : 2 * i + 2]]  # eq. 21
        assert torch.allclose(out.gates[0, i], torch.tensor(z), atol=1e-6)
        for j in range(2):
            expected[j] += z[j] * h[j] * xs[i][j]  # eq. 22
    assert torch.allclose(out.fused, torch.tensor([expected]), atol=1e-6)


def test_gmu_eq_23_by_hand_with_unequal_widths():
    x1, x2, x3 = [0.5, -0.5, 1.0], [2.0], [0.1, 0.2]
    w1 = [[0.1, 0.2, 0.3], [-0.3, 0.1, 0.0]]
    w2 = [[0.7], [-0.4]]
    w3 = [[0.2, -0.6], [0.5, 0.5]]
    wz = [[0.05 * ((i + 2 * j) % 7 - 3) for j in range(6)] for i in range(6)]
    unit = GMU(in_dims=[3, 1, 2], out_dim=2)
    for layer, w in zip(unit.hidden, (w1, w2, w3)):
        set_weights(layer, w)
    set_weights(unit.gate, wz)
    out = unit([torch.tensor([x1]), torch.tensor([x2]), torch.tensor([x3])])
    gate_pre = matvec(wz, x1 + x2 + x3)
    expected = [0.0, 0.0]
    for i, (w, x) in enumerate(((w1, x1), (w2, x2), (w3, x3))):
        h = [math.tanh(v) for v in matvec(w, x)]
        z = [sigmoid(v) for v in gate_pre[2 * i : 2 * i + 2]]
        part = [z[j] * h[j] for j in range(2)]
        assert torch.allclose(out.parts[0, i], torch.tensor(part), atol=1e-6)
        expected = [e + p for e, p in zip(expected, part)]
    assert torch.allclose(out.fused, torch.tensor([expected]), atol=1e-6)
    assert out.gates.shape == (1, 3, 2)


def test_bimodal_gmu_uses_one_gate_and_its_complement():
    unit = BimodalGMU(in_dims=[2, 2], out_dim=2)
    set_weights(unit.hidden[0], W_V)
    set_weights(unit.hidden[1], W_T)
    set_weights(unit.gate, W_Z)
    out = unit([torch.tensor([X_V]), torch.tensor([X_T])])
    h_v = [math.tanh(v) for v in matvec(W_V, X_V)]
    h_t = [math.tanh(v) for v in matvec(W_T, X_T)]
    z = [sigmoid(v) for v in matvec(W_Z, X_V + X_T)]
    expected = [z[i] * h_v[i] + (1 - z[i]) * h_t[i] for i in range(2)]
    assert torch.allclose(out.fused, torch.tensor([expected]), atol=1e-6)
    assert torch.allclose(out.gates.sum(-2), torch.ones(1, 2))


@pytest.mark.parametrize("make", [
    lambda: GMU(in_dims=[4, 4, 4], out_dim=4),
    lambda: ExtendedFusionGMU(dim=4, num_inputs=3),
    lambda: FusionGMU(dim=4),
], ids=["gmu", "extended_fgmu", "fgmu"])
@torch.no_grad()
def test_units_act_on_any_leading_axes_and_gates_lie_in_0_1(make):
    unit = make()
    k = 2 if isinstance(unit, FusionGMU) else 3
    xs = [10 * torch.randn(3, 5, 4) for _ in range(k)]  # (batch, time, d) as in sequence mode
    out = unit(xs)
    assert out.fused.shape == (3, 5, 4)
    assert out.parts.shape == (3, 5, k, 4)
    assert float(out.gates.min()) >= 0.0 and float(out.gates.max()) <= 1.0
    flat = unit([x[:, 2] for x in xs])
    assert torch.allclose(flat.fused, out.fused[:, 2], atol=1e-6)


def test_units_are_bias_free():
    for unit in (GMU(in_dims=[3, 2], out_dim=4), FusionGMU(dim=3), ExtendedFusionGMU(dim=3, num_inputs=4)):
        assert not [n for n, _ in unit.named_parameters() if n.endswith("bias")]

"""The trainer's Adam: fused where PyTorch has a fused kernel, and the same update as the plain loop."""

import torch

from bpmult.train.engine import make_adam


def _two_steps(optimizer_factory):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(7, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    optimizer = optimizer_factory(model.parameters())
    x, y = torch.randn(11, 7), torch.randn(11, 3)
    for _ in range(3):
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
    return optimizer, [p.detach().clone() for p in model.parameters()]


def test_the_trainer_uses_the_fused_kernel_on_cpu_and_plain_adam_elsewhere():
    params = [torch.nn.Parameter(torch.zeros(3))]
    assert make_adam(params, lr=1e-3, device=torch.device("cpu")).defaults["fused"] is True
    meta = [torch.nn.Parameter(torch.zeros(3, device="meta"))]
    assert not make_adam(meta, lr=1e-3, device=torch.device("meta")).defaults["fused"]


def test_fused_adam_makes_the_plain_loops_update_to_float_rounding():
    fused_opt, fused = _two_steps(lambda p: make_adam(p, lr=1e-2, device=torch.device("cpu")))
    _, loop = _two_steps(lambda p: torch.optim.Adam(p, lr=1e-2, foreach=False))
    assert fused_opt.defaults["fused"]
    for a, b in zip(fused, loop):
        assert torch.allclose(a, b, atol=1e-6, rtol=0), (a - b).abs().max()
    # and the parameters did move (the comparison is not between two untouched models)
    torch.manual_seed(0)
    untouched = torch.nn.Sequential(torch.nn.Linear(7, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    assert (untouched[0].weight - fused[0]).abs().max() > 1e-3


def test_a_plain_adam_state_loads_into_the_fused_one():
    loop_opt, _ = _two_steps(lambda p: torch.optim.Adam(p, lr=1e-2, foreach=False))
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(7, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    fused = make_adam(model.parameters(), lr=1e-2, device=torch.device("cpu"))
    fused.load_state_dict(loop_opt.state_dict())
    torch.nn.functional.mse_loss(model(torch.randn(2, 7)), torch.randn(2, 3)).backward()
    fused.step()
    assert all(float(s["step"]) == 4 for s in fused.state.values())

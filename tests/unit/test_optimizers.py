"""LARS and LAMB against their formulas written out by hand (float64), the exclusion of 1-D
parameters, the choice of optimiser by name, checkpointing, and a regression they solve."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import pytest
import torch

from pargnn.optim import LAMB, LARS, OPTIMIZERS, build_optimizer

F64 = torch.float64
W0 = [[1.0, -2.0, 0.5], [0.25, 3.0, -1.5]]
B0 = [0.1, -0.2, 0.3]
GRADS_W = [[[0.3, -0.1, 0.2], [0.05, 0.4, -0.6]], [[-0.2, 0.5, 0.1], [0.3, -0.05, 0.25]]]
GRADS_B = [[0.5, -0.25, 0.125], [-0.3, 0.2, 0.6]]


def tensor(values: object) -> torch.Tensor:
    return torch.tensor(values, dtype=F64)


def parameters() -> tuple[torch.nn.Parameter, torch.nn.Parameter]:
    return torch.nn.Parameter(tensor(W0)), torch.nn.Parameter(tensor(B0))


def run(optimizer: torch.optim.Optimizer, params: list[torch.nn.Parameter],
        grads: Sequence[Sequence[object]]) -> None:
    """One ``step`` per entry of ``grads`` (one gradient per parameter)."""
    for step_grads in grads:
        for p, g in zip(params, step_grads, strict=True):
            p.grad = tensor(g)
        optimizer.step()


def norm(x: torch.Tensor) -> torch.Tensor:
    return torch.sqrt((x * x).sum())


# ---------------------------------------------------------------- LARS


def test_lars_two_steps_match_the_hand_computation() -> None:
    lr, mu, wd, eta = 0.1, 0.9, 0.01, 0.5
    w, b = parameters()
    run(LARS([w, b], lr=lr, momentum=mu, weight_decay=wd, trust_coefficient=eta), [w, b],
        [[GRADS_W[0], GRADS_B[0]], [GRADS_W[1], GRADS_B[1]]])
    w0, g1, g2 = tensor(W0), tensor(GRADS_W[0]), tensor(GRADS_W[1])
    local1 = eta * norm(w0) / (norm(g1) + wd * norm(w0))
    v1 = lr * local1 * (g1 + wd * w0)
    w1 = w0 - v1
    local2 = eta * norm(w1) / (norm(g2) + wd * norm(w1))
    v2 = mu * v1 + lr * local2 * (g2 + wd * w1)
    torch.testing.assert_close(w.detach(), w1 - v2, rtol=1e-13, atol=0.0)
    vb1 = lr * tensor(GRADS_B[0])  # the bias: no trust ratio, no weight decay
    vb2 = mu * vb1 + lr * tensor(GRADS_B[1])
    torch.testing.assert_close(b.detach(), tensor(B0) - vb1 - vb2, rtol=1e-13, atol=0.0)


def test_lars_one_step_scales_the_step_to_the_weight() -> None:
    """Without weight decay the first step has norm ``lr * eta * ||w||`` whatever ``||g||``."""
    for scale in (1e-3, 1.0, 1e3):
        w, _ = parameters()
        g = (scale * tensor(GRADS_W[0])).tolist()
        run(LARS([w], lr=0.5, trust_coefficient=0.02), [w], [[g]])
        step = tensor(W0) - w.detach()
        assert norm(step).item() == pytest.approx(0.5 * 0.02 * norm(tensor(W0)).item(),
                                                  rel=1e-12)


def test_lars_trust_ratio_is_one_for_a_zero_weight_or_gradient() -> None:
    lr, wd = 0.1, 0.2
    zero = torch.nn.Parameter(torch.zeros(2, 3, dtype=F64))
    still, _ = parameters()
    run(LARS([zero, still], lr=lr, weight_decay=wd), [zero, still],
        [[GRADS_W[0], torch.zeros(2, 3).tolist()]])
    torch.testing.assert_close(zero.detach(), -lr * tensor(GRADS_W[0]), rtol=1e-14, atol=0.0)
    # zero gradient: local_lr = 1, so only the weight decay moves it
    torch.testing.assert_close(still.detach(), tensor(W0) * (1 - lr * wd), rtol=1e-14, atol=0.0)


def test_lars_weight_decay_enters_the_ratio_and_the_direction() -> None:
    lr, wd, eta = 0.1, 0.3, 0.05
    w, b = parameters()
    run(LARS([w, b], lr=lr, momentum=0.0, weight_decay=wd, trust_coefficient=eta), [w, b],
        [[GRADS_W[0], GRADS_B[0]]])
    w0, g = tensor(W0), tensor(GRADS_W[0])
    expected = w0 - lr * eta * norm(w0) / (norm(g) + wd * norm(w0)) * (g + wd * w0)
    torch.testing.assert_close(w.detach(), expected, rtol=1e-14, atol=0.0)
    plain, _ = parameters()
    run(LARS([plain], lr=lr, momentum=0.0, trust_coefficient=eta), [plain], [[GRADS_W[0]]])
    assert not torch.allclose(plain, w)
    torch.testing.assert_close(b.detach(), tensor(B0) - lr * tensor(GRADS_B[0]),
                               rtol=1e-14, atol=0.0)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"lr": 0.0}, "lr must be > 0"),
    ({"lr": 0.1, "momentum": 1.0}, r"momentum must be in \[0, 1\)"),
    ({"lr": 0.1, "momentum": -0.1}, r"momentum must be in \[0, 1\)"),
    ({"lr": 0.1, "weight_decay": -1e-4}, "weight_decay must be >= 0"),
    ({"lr": 0.1, "trust_coefficient": 0.0}, "trust_coefficient must be > 0"),
])
def test_lars_rejects_bad_hyperparameters(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LARS(parameters(), **kwargs)


# ---------------------------------------------------------------- LAMB


def test_lamb_two_steps_match_the_hand_computation() -> None:
    lr, (b1, b2), eps, wd = 0.01, (0.8, 0.95), 1e-6, 0.1
    w, b = parameters()
    run(LAMB([w, b], lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd), [w, b],
        [[GRADS_W[0], GRADS_B[0]], [GRADS_W[1], GRADS_B[1]]])
    w0, g1, g2 = tensor(W0), tensor(GRADS_W[0]), tensor(GRADS_W[1])
    m1, v1 = (1 - b1) * g1, (1 - b2) * g1 * g1
    u1 = (m1 / (1 - b1)) / (torch.sqrt(v1 / (1 - b2)) + eps) + wd * w0
    w1 = w0 - lr * norm(w0) / norm(u1) * u1
    m2, v2 = b1 * m1 + (1 - b1) * g2, b2 * v1 + (1 - b2) * g2 * g2
    u2 = (m2 / (1 - b1**2)) / (torch.sqrt(v2 / (1 - b2**2)) + eps) + wd * w1
    torch.testing.assert_close(w.detach(), w1 - lr * norm(w1) / norm(u2) * u2,
                               rtol=1e-13, atol=0.0)


def test_lamb_first_step_is_bias_corrected() -> None:
    """At t = 1 the corrected moments are g and g^2: r = g / (|g| + eps), nearly sign(g), and
    the step has norm exactly lr * ||w|| (trust ratio ||w|| / ||r||)."""
    lr, eps = 0.01, 1e-6
    w, _ = parameters()
    run(LAMB([w], lr=lr, eps=eps), [w], [[GRADS_W[0]]])
    g, w0 = tensor(GRADS_W[0]), tensor(W0)
    r = g / (g.abs() + eps)
    torch.testing.assert_close(w.detach(), w0 - lr * norm(w0) / norm(r) * r,
                               rtol=1e-14, atol=0.0)
    assert norm(w0 - w.detach()).item() == pytest.approx(lr * norm(w0).item(), rel=1e-12)


def test_lamb_trust_ratio_is_one_for_a_zero_weight() -> None:
    lr, eps = 0.01, 1e-6
    zero = torch.nn.Parameter(torch.zeros(2, 3, dtype=F64))
    run(LAMB([zero], lr=lr, eps=eps, weight_decay=0.5), [zero], [[GRADS_W[0]]])
    g = tensor(GRADS_W[0])
    torch.testing.assert_close(zero.detach(), -lr * g / (g.abs() + eps), rtol=1e-14, atol=0.0)


def test_lamb_on_a_1d_parameter_is_adam_without_weight_decay() -> None:
    _, b = parameters()
    twin = torch.nn.Parameter(b.detach().clone())
    grads = [[g] for g in GRADS_B] + [[[0.0, 1.0, -2.0]]]
    run(LAMB([b], lr=0.05, betas=(0.85, 0.99), eps=1e-6, weight_decay=0.3), [b], grads)
    run(torch.optim.Adam([twin], lr=0.05, betas=(0.85, 0.99), eps=1e-6, weight_decay=0.0),
        [twin], grads)
    torch.testing.assert_close(b.detach(), twin.detach(), rtol=1e-13, atol=1e-15)
    assert not torch.equal(b.detach(), tensor(B0))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"lr": -1.0}, "lr must be > 0"),
    ({"lr": 0.1, "betas": (1.0, 0.9)}, r"betas\[0\] must be in \[0, 1\)"),
    ({"lr": 0.1, "betas": (0.9, -0.1)}, r"betas\[1\] must be in \[0, 1\)"),
    ({"lr": 0.1, "eps": 0.0}, "eps must be > 0"),
    ({"lr": 0.1, "weight_decay": -1.0}, "weight_decay must be >= 0"),
])
def test_lamb_rejects_bad_hyperparameters(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LAMB(parameters(), **kwargs)


# ---------------------------------------------------------------- both


@pytest.mark.parametrize("make", [
    lambda ps: LARS(ps, lr=0.1, weight_decay=0.01, trust_coefficient=0.1),
    lambda ps: LAMB(ps, lr=0.01, weight_decay=0.01),
], ids=["lars", "lamb"])
def test_state_dict_round_trip_gives_the_same_next_step(
        make: Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer]) -> None:
    params = list(parameters())
    first = make(params)
    run(first, params, [[GRADS_W[0], GRADS_B[0]], [GRADS_W[1], GRADS_B[1]]])
    saved = copy.deepcopy(first.state_dict())
    copies = [torch.nn.Parameter(p.detach().clone()) for p in params]
    second = make(copies)
    second.load_state_dict(saved)
    third_step = [[GRADS_W[1], GRADS_B[0]]]
    run(first, params, third_step)
    run(second, copies, third_step)
    for p, q in zip(params, copies, strict=True):
        assert torch.equal(p, q)


def test_parameters_without_a_gradient_are_skipped_and_the_closure_is_called() -> None:
    for optimizer_type in (LARS, LAMB):
        w, b = parameters()
        w.grad = tensor(GRADS_W[0])
        optimizer = optimizer_type([w, b], lr=0.1)
        assert optimizer.step(lambda: 2.5) == 2.5
        assert torch.equal(b.detach(), tensor(B0)) and not torch.equal(w.detach(), tensor(W0))
        assert b not in optimizer.state


def test_float32_parameters_keep_their_dtype() -> None:
    for optimizer_type in (LARS, LAMB):
        w = torch.nn.Parameter(torch.tensor(W0))
        w.grad = torch.tensor(GRADS_W[0])
        optimizer_type([w], lr=0.1).step()
        assert w.dtype == torch.float32 and torch.isfinite(w).all()


def _least_squares_losses(optimizer_name: str, lr: float, steps: int = 50) -> list[float]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(128, 8, generator=generator, dtype=F64)
    y = x @ torch.randn(8, 3, generator=generator, dtype=F64) + 0.5
    torch.manual_seed(0)
    model = torch.nn.Linear(8, 3).double()
    optimizer = build_optimizer(optimizer_name, model.parameters(), lr=lr, weight_decay=1e-4,
                                trust_coefficient=0.02)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize(("name", "lr"), [("lars", 1.0), ("lamb", 0.05)])
def test_lars_and_lamb_solve_a_least_squares_problem(name: str, lr: float) -> None:
    losses = _least_squares_losses(name, lr)
    assert losses[-1] < 0.1 * losses[0], losses[::10]


# ---------------------------------------------------------------- by name


def test_build_optimizer_gives_each_name_its_class_and_hyperparameters() -> None:
    def build(name: str) -> torch.optim.Optimizer:
        return build_optimizer(name, (p for p in parameters()), lr=0.03, weight_decay=0.002,
                               momentum=0.8, trust_coefficient=0.01)

    expected: dict[str, tuple[type, dict[str, object]]] = {
        "adam": (torch.optim.Adam, {"lr": 0.03, "weight_decay": 0.002}),
        "sgd": (torch.optim.SGD, {"lr": 0.03, "weight_decay": 0.002, "momentum": 0.8}),
        "lars": (LARS, {"lr": 0.03, "weight_decay": 0.002, "momentum": 0.8,
                        "trust_coefficient": 0.01}),
        "lamb": (LAMB, {"lr": 0.03, "weight_decay": 0.002, "betas": (0.9, 0.999),
                        "eps": 1e-6}),
    }
    assert tuple(expected) == OPTIMIZERS
    for name, (kind, hyperparameters) in expected.items():
        optimizer = build(name)
        group = optimizer.param_groups[0]
        assert type(optimizer) is kind and len(group["params"]) == 2
        assert {key: group[key] for key in hyperparameters} == hyperparameters
    assert "momentum" not in build("lamb").param_groups[0]


def test_build_optimizer_rejects_an_unknown_name_listing_the_choices() -> None:
    with pytest.raises(ValueError, match="'adamw'") as error:
        build_optimizer("adamw", parameters(), lr=0.1, weight_decay=0.0)
    assert all(name in str(error.value) for name in OPTIMIZERS)


# ---------------------------------------------------------------- CUDA


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("optimizer_type", [LARS, LAMB])
def test_cuda_steps_follow_the_cpu(optimizer_type: type[LARS] | type[LAMB]) -> None:
    results = []
    for device in ("cpu", "cuda"):
        params = [p.to(device).detach().requires_grad_() for p in parameters()]
        optimizer = optimizer_type(params, lr=0.1, weight_decay=0.01)
        for grads in zip(GRADS_W, GRADS_B, strict=True):
            for p, g in zip(params, grads, strict=True):
                p.grad = tensor(g).to(device)
            optimizer.step()
        results.append([p.detach().cpu() for p in params])
    for cpu, cuda in zip(*results, strict=True):
        torch.testing.assert_close(cuda, cpu, rtol=1e-12, atol=1e-15)

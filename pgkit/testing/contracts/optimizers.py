"""The optimizer contract: steps lower a quadratic, clipping clips, schedules apply, and an optimizer
declared elementwise steps the same on one flat buffer as on separate tensors."""

from __future__ import annotations

import torch

from pgkit.kinds import Optimizer
from pgkit.runtime import GradientStep
from pgkit.testing.contracts.common import check_spec, instance


def check_optimizer(optimizer: Optimizer | type[Optimizer]) -> None:
    """Steps lower a quadratic; clip() returns the norm before clipping and clips to max_grad_norm;
    set_learning_rate applies the schedule."""
    optimizer = instance(optimizer)
    check_spec(optimizer)
    weight = torch.nn.Parameter(torch.full((3,), 5.0))
    torch_optimizer = optimizer.build([weight])
    optimizer.set_learning_rate(torch_optimizer, progress=0.0)
    first = weight.square().sum().item()
    for _ in range(20):
        torch_optimizer.zero_grad()
        weight.square().sum().backward()
        norm = optimizer.clip([weight])
        if optimizer.spec.max_grad_norm is not None:
            assert weight.grad.norm().item() <= optimizer.spec.max_grad_norm + 1e-5, f"{optimizer.name}: clip() did not clip"
        assert norm > 0
        torch_optimizer.step()
    assert weight.square().sum().item() < first, f"{optimizer.name}: 20 steps did not lower sum(w^2)"
    lr = optimizer.set_learning_rate(torch_optimizer, progress=0.5)
    assert all(group["lr"] == lr for group in torch_optimizer.param_groups)
    if optimizer.elementwise:
        _check_flat_steps_match(optimizer)


def _check_flat_steps_match(optimizer: Optimizer) -> None:
    """An optimizer declared elementwise takes the same steps on parameters packed in one flat buffer
    (what trainers do with it) as on the separate tensors."""
    torch.manual_seed(0)
    shapes = [(3, 2), (2,), (4,)]
    initial = [torch.randn(shape) for shape in shapes]
    separate = [torch.nn.Parameter(t.clone()) for t in initial]
    packed = [torch.nn.Parameter(t.clone()) for t in initial]
    reference, flat = optimizer.build(separate), GradientStep(optimizer, packed)
    assert flat.flat is not None
    for step in range(5):
        targets = [torch.randn(shape) for shape in shapes]

        def loss(params: list[torch.nn.Parameter]) -> torch.Tensor:
            return sum(((p - t) ** 2).sum() * (step + 1) for p, t in zip(params, targets))

        reference.zero_grad()
        loss(separate).backward()
        optimizer.clip(separate)
        reference.step()
        flat.zero_grad()
        loss(packed).backward()
        flat.clip()
        flat.step()
    for a, b in zip(separate, packed):
        assert torch.allclose(a, b, atol=1e-6), f"{optimizer.name} is declared elementwise but steps differently on a flat buffer"



"""Flat parameters: the modules read and train the same numbers, in one buffer."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from pgkit.nn.flat_parameters import FlatParameters
from pgkit.runtime.gradient_step import GradientStep
from pgkit.plugins.registry import default_registry


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2))


def test_parameters_become_views_with_the_same_values_and_gradients():
    net, reference = _net(), _net()
    flat = FlatParameters(list(net.parameters()))
    assert flat.param.numel() == sum(p.numel() for p in reference.parameters())
    x = torch.randn(7, 3)
    for module in (net, reference):
        module(x).square().sum().backward()
    for p, q in zip(net.parameters(), reference.parameters()):
        assert torch.equal(p, q) and torch.equal(p.grad, q.grad)
    assert torch.equal(flat.param.grad, torch.cat([q.grad.reshape(-1) for q in reference.parameters()]))


def test_gradients_accumulate_into_the_views_until_zeroed():
    net = _net()
    flat = FlatParameters(list(net.parameters()))
    x = torch.randn(4, 3)
    net(x).sum().backward()
    once = flat.param.grad.clone()
    net(x).sum().backward()
    torch.testing.assert_close(flat.param.grad, 2 * once)
    flat.zero_grad()
    assert not flat.param.grad.any()


def _views_intact(flat: FlatParameters) -> bool:
    offset, ok = 0, True
    for p in flat.parameters:
        at = offset * p.element_size()
        ok &= p.data_ptr() == flat.param.data_ptr() + at and p.grad.data_ptr() == flat.param.grad.data_ptr() + at
        offset += p.numel()
    return ok


def test_torch_apis_that_replace_gradients_or_storage_keep_working():
    """An optimizer's zero_grad(set_to_none=True) and vector_to_parameters replace .grad and .data; the
    flat buffers take the new numbers and the parameters become views again."""
    net, reference = _net(), _net()
    flat = FlatParameters(list(net.parameters()))
    torch.optim.SGD(net.parameters(), lr=0.1).zero_grad(set_to_none=True)
    x = torch.randn(2, 3)
    net(x).sum().backward()
    reference(x).sum().backward()
    flat.reseat()
    assert _views_intact(flat)
    assert torch.equal(flat.param.grad, torch.cat([q.grad.reshape(-1) for q in reference.parameters()]))
    vector = torch.arange(flat.param.numel(), dtype=torch.float32)
    torch.nn.utils.vector_to_parameters(vector, net.parameters())
    flat.zero_grad()
    assert _views_intact(flat) and torch.equal(flat.param.detach(), vector) and not flat.param.grad.any()


def test_state_dict_round_trip_keeps_the_views():
    net = _net()
    flat = FlatParameters(list(net.parameters()))
    state = copy.deepcopy(net.state_dict())
    with torch.no_grad():
        flat.param.add_(1.0)
    net.load_state_dict(state)
    assert _views_intact(flat)
    assert torch.equal(flat.param.detach(), torch.cat([t.reshape(-1) for t in state.values()]))


@pytest.mark.parametrize("name", ["adam", "rmsprop", "sgd"])
def test_training_steps_match_separate_tensors(name):
    """Ten steps of each built-in optimizer, with clipping, reach the same weights either way."""
    component = default_registry().lookup("optimizer", name).cls(lr=0.01, max_grad_norm=0.5)
    separate, packed = _net(), _net()
    reference, step = component.build(list(separate.parameters())), GradientStep(component, packed.parameters())
    assert step.flat is not None
    torch.manual_seed(1)
    for _ in range(10):
        x = torch.randn(8, 3)
        reference.zero_grad()
        separate(x).square().mean().backward()
        component.clip(list(separate.parameters()))
        reference.step()
        step.zero_grad()
        packed(x).square().mean().backward()
        step.clip()
        step.step()
    for p, q in zip(separate.parameters(), packed.parameters()):
        torch.testing.assert_close(p, q)


def test_frozen_parameters_are_left_out():
    """A frozen layer keeps its values under weight decay (torch's optimizers skip it; so must the flat buffer)."""
    net = _net()
    net[0].requires_grad_(False)
    frozen = net[0].weight.detach().clone()
    component = default_registry().lookup("optimizer", "sgd").cls(lr=0.1, weight_decay=0.5)
    step = GradientStep(component, net.parameters())
    assert step.flat.param.numel() == sum(p.numel() for p in net[2].parameters())
    step.zero_grad()
    net(torch.randn(4, 3)).sum().backward()
    step.clip()
    step.step()
    assert torch.equal(net[0].weight, frozen)

"""A torso shared by the policy and the critic runs once per minibatch, with the gradients of two passes."""

from __future__ import annotations

import torch
from torch import nn

from pgkit.nn import outputs_reused


class CountingTorso(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 4)
        self.calls = 0

    def forward(self, obs):
        self.calls += 1
        return torch.tanh(self.linear(obs))


def two_head_loss(torso: nn.Module, obs: torch.Tensor) -> torch.Tensor:
    return torso(obs).sum() + (torso(obs) ** 2).mean()


def test_a_shared_torso_runs_once_and_gets_the_gradient_of_two_passes():
    torch.manual_seed(0)
    torso, obs = CountingTorso(), torch.randn(5, 3)
    expected = torch.autograd.grad(two_head_loss(torso, obs), list(torso.parameters()))
    torso.calls = 0
    with outputs_reused(torso):
        gradient = torch.autograd.grad(two_head_loss(torso, obs), list(torso.parameters()))
    assert torso.calls == 1
    for got, want in zip(gradient, expected):
        torch.testing.assert_close(got, want)
    assert "forward" not in vars(torso)  # the module is as it was after the block


def test_other_inputs_and_other_grad_modes_are_computed_again():
    torso, obs = CountingTorso(), torch.randn(5, 3)
    with outputs_reused(torso):
        with torch.no_grad():
            detached = torso(obs)
        attached = torso(obs)
        torso(obs.clone())
        obs.add_(1.0)  # changed in place: a new version
        torso(obs)
    assert torso.calls == 4
    assert not detached.requires_grad and attached.requires_grad

"""The contracts fail on broken components, each with a message that says what is wrong."""

from __future__ import annotations

import io

import pytest
import torch
from torch.distributions import register_kl

from conftest import UnsummedGaussian
from pgkit.builtins.advantages.reward_to_go import RewardToGo
from pgkit.builtins.baselines.mean_return import MeanReturn
from pgkit.builtins.objectives.reinforce import Reinforce
from pgkit.builtins.optimizers.torch_optimizers import SGD
from pgkit.builtins.policy_heads.categorical import Categorical, CategoricalModule
from pgkit.builtins.policy_heads.gaussian import GSDE, GSDEModule
from pgkit.nn import Categorical as CategoricalDistribution
from pgkit.testing import check_advantage, check_baseline, check_objective, check_optimizer, check_policy_head


class StatefulModule(CategoricalModule):
    def forward(self, features):
        self.calls = getattr(self, "calls", 0) + 1
        logits = self.logits(features)
        logits[:, 0] += self.calls
        return torch.distributions.Categorical(logits=logits, validate_args=False)


class StatefulHead(Categorical):
    """Remembers how often it was called (broken)."""

    name = "stateful"

    def build(self, in_features, action_space):
        return StatefulModule(in_features, int(action_space.n), 0)


class BootstrapsThroughTermination(RewardToGo):
    """Ignores terminations (broken)."""

    name = "leaky"

    def compute(self, batch, baseline):
        batch = type(batch)(**{**vars(batch), "terminated": torch.zeros_like(batch.terminated)})
        return super().compute(batch, baseline)


class WritesExtras(RewardToGo):
    """Writes an undeclared field (broken)."""

    name = "writer"

    def compute(self, batch, baseline):
        batch.values = batch.values + 1
        return super().compute(batch, baseline)


class PeekingBaseline(MeanReturn):
    """Uses the actions taken (biased)."""

    name = "peeking"

    def __call__(self, batch):
        return batch.actions.float()


class WrongSign(Reinforce):
    """Gradient descent on the return (broken)."""

    name = "wrong_sign"

    def loss(self, batch, context):
        loss, metrics = super().loss(batch, context)
        return -loss, metrics


class HalfKL(Categorical):
    """Declares an exact KL, but its distributions' KL is half the true one (broken)."""

    name = "half_kl"

    def build(self, in_features, action_space):
        return HalfKLModule(in_features, int(action_space.n), 0)


class HalfKLCategorical(CategoricalDistribution):
    pass


@register_kl(HalfKLCategorical, HalfKLCategorical)
def _half_kl(p, q):
    return 0.5 * (p.probs * (p.logits - q.logits)).sum(-1)


class HalfKLModule(CategoricalModule):
    def forward(self, features):
        return HalfKLCategorical(self.logits(features))


class LoudNoise(GSDE):
    """Holds exploration noise twice as wide as its distribution says (broken)."""

    name = "loud_noise"

    def build(self, in_features, action_space):
        return LoudNoiseModule(in_features, action_space, self.spec.log_std_init, self.spec.resample_every)


class LoudNoiseModule(GSDEModule):
    def exploration(self, count):
        return 2 * super().exploration(count)


class RemembersAFile(Reinforce):
    """Keeps an open file as state, which no checkpoint can hold (broken)."""

    name = "remembers_a_file"

    def __init__(self, spec=None, **params):
        super().__init__(spec, **params)
        self.log = io.StringIO()


class PerTensorNormalized(SGD):
    """Steps each tensor along its own unit-norm gradient: not elementwise, but declared so (broken)."""

    name = "per_tensor_normalized"
    elementwise = True

    def build(self, params):
        return _PerTensorNormalizedSGD(list(params), lr=self.spec.lr)


class _PerTensorNormalizedSGD(torch.optim.Optimizer):
    def __init__(self, params, lr):
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                p -= group["lr"] * p.grad / (p.grad.norm() + 1e-12)


@pytest.mark.parametrize(
    "check, component, message",
    [
        (check_policy_head, StatefulHead, "keeps state between calls"),
        (check_advantage, BootstrapsThroughTermination, "a terminated step must not"),
        (check_advantage, WritesExtras, "modified batch.values"),
        (check_baseline, PeekingBaseline, "changed with the batch's actions"),
        (check_policy_head, HalfKL, "is not E_p\\[log p - log q\\]"),
        (check_policy_head, UnsummedGaussian, "log_prob must have shape \\[batch\\]"),
        (check_policy_head, LoudNoise, "actions of fresh held noise have variance"),
        (check_objective, WrongSign, "did not raise the probability of the better action"),
        (check_objective, RemembersAFile, "holds a StringIO, which pgkit cannot save"),
        (check_optimizer, PerTensorNormalized, "declared elementwise but steps differently"),
    ],
)
def test_contract_catches(check, component, message):
    with pytest.raises((AssertionError, TypeError), match=message):
        check(component)

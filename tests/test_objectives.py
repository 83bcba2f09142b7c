"""Policy losses against plain-Python computations of their formulas, values and gradients."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.distributions import Categorical

from pgkit import Batch
from pgkit.kinds import LossContext
from pgkit.builtins.objectives.ppo_clip import PPOClip
from pgkit.builtins.objectives.reinforce import Reinforce


class LogitsPolicy(nn.Module):
    """A state-independent softmax policy with its logits as the only parameters."""

    def __init__(self, logits):
        super().__init__()
        self.logits = nn.Parameter(torch.tensor(logits, dtype=torch.float64))

    def forward(self, obs):
        return Categorical(logits=self.logits.expand(obs.shape[0], -1))


def flat_batch(actions, old_log_probs, advantages) -> Batch:
    n = len(actions)
    zeros = torch.zeros(n, dtype=torch.float64)
    return Batch(
        obs=torch.zeros(n, 1), actions=torch.tensor(actions), log_probs=torch.tensor(old_log_probs, dtype=torch.float64),
        rewards=zeros, terminated=zeros.bool(), truncated=zeros.bool(), next_obs=torch.zeros(n, 1),
        advantages=torch.tensor(advantages, dtype=torch.float64),
    )


def log_softmax(logits):
    top = max(logits)
    norm = top + math.log(sum(math.exp(x - top) for x in logits))
    return [x - norm for x in logits]


def ppo_loss_by_hand(logits, actions, old, advantages, eps):
    logp = log_softmax(logits)
    terms = []
    for a, o, adv in zip(actions, old, advantages):
        ratio = math.exp(logp[a] - o)
        terms.append(min(ratio * adv, min(max(ratio, 1 - eps), 1 + eps) * adv))
    return -sum(terms) / len(terms)


LOGITS = [0.3, -0.2, 0.5]
ACTIONS = [0, 1, 2, 2, 0]
# old log-probs chosen so the ratios land below, inside and above the clip interval [0.8, 1.2]
OLD = [math.log(0.25), math.log(0.5), math.log(0.3), math.log(0.5), math.log(0.33)]
ADVANTAGES = [1.0, -2.0, 0.5, 1.5, -1.0]


def test_ppo_clip_loss_and_gradient_match_hand_computation():
    policy = LogitsPolicy(LOGITS)
    objective = PPOClip(clip_range=0.2)
    loss, metrics = objective.loss(flat_batch(ACTIONS, OLD, ADVANTAGES), LossContext(policy))
    expected = ppo_loss_by_hand(LOGITS, ACTIONS, OLD, ADVANTAGES, 0.2)
    assert loss.item() == pytest.approx(expected, abs=1e-12)
    loss.backward()
    h = 1e-6
    for i in range(len(LOGITS)):
        up, down = list(LOGITS), list(LOGITS)
        up[i] += h
        down[i] -= h
        numeric = (ppo_loss_by_hand(up, ACTIONS, OLD, ADVANTAGES, 0.2) - ppo_loss_by_hand(down, ACTIONS, OLD, ADVANTAGES, 0.2)) / (2 * h)
        assert policy.logits.grad[i].item() == pytest.approx(numeric, abs=1e-7)
    ratios = [math.exp(lp - o) for lp, o in zip([log_softmax(LOGITS)[a] for a in ACTIONS], OLD)]
    assert metrics["clip_fraction"] == pytest.approx(sum(abs(r - 1) > 0.2 for r in ratios) / len(ratios))
    assert 0 < metrics["clip_fraction"] < 1


def test_ppo_clip_standardizes_each_minibatchs_advantages_when_asked():
    """normalize_advantages: the loss is the hand-computed one on (A - mean) / std (sample std, n - 1) of the
    minibatch given, as SB3's normalize_advantage."""
    mean = sum(ADVANTAGES) / len(ADVANTAGES)
    std = math.sqrt(sum((a - mean) ** 2 for a in ADVANTAGES) / (len(ADVANTAGES) - 1))
    standardized = [(a - mean) / (std + 1e-8) for a in ADVANTAGES]
    loss, _ = PPOClip(clip_range=0.2, normalize_advantages=True).loss(flat_batch(ACTIONS, OLD, ADVANTAGES), LossContext(LogitsPolicy(LOGITS)))
    assert loss.item() == pytest.approx(ppo_loss_by_hand(LOGITS, ACTIONS, OLD, standardized, 0.2), abs=1e-12)
    assert loss.item() != pytest.approx(ppo_loss_by_hand(LOGITS, ACTIONS, OLD, ADVANTAGES, 0.2), abs=1e-6)


def test_ppo_clip_equals_the_policy_gradient_on_fresh_data():
    """With ratio = 1 the clipped surrogate's gradient is the REINFORCE gradient."""
    logp = log_softmax(LOGITS)
    fresh = [logp[a] for a in ACTIONS]
    ppo_policy, pg_policy = LogitsPolicy(LOGITS), LogitsPolicy(LOGITS)
    PPOClip().loss(flat_batch(ACTIONS, fresh, ADVANTAGES), LossContext(ppo_policy))[0].backward()
    Reinforce().loss(flat_batch(ACTIONS, fresh, ADVANTAGES), LossContext(pg_policy))[0].backward()
    torch.testing.assert_close(ppo_policy.logits.grad, pg_policy.logits.grad)


def test_clipped_samples_give_no_gradient():
    """Ratio 1.5 > 1 + eps with a positive advantage: the objective is flat there."""
    policy = LogitsPolicy([0.0, 0.0])
    old = [math.log(0.5 / 1.5)]
    loss, metrics = PPOClip(clip_range=0.2).loss(flat_batch([0], old, [1.0]), LossContext(policy))
    loss.backward()
    assert torch.count_nonzero(policy.logits.grad) == 0 and metrics["clip_fraction"] == 1.0


def test_reinforce_loss_by_hand_with_entropy():
    policy = LogitsPolicy(LOGITS)
    loss, metrics = Reinforce(entropy_coef=0.1).loss(flat_batch(ACTIONS, OLD, ADVANTAGES), LossContext(policy))
    logp = log_softmax(LOGITS)
    entropy = -sum(math.exp(x) * x for x in logp)
    expected = -sum(logp[a] * adv for a, adv in zip(ACTIONS, ADVANTAGES)) / len(ACTIONS) - 0.1 * entropy
    assert loss.item() == pytest.approx(expected, abs=1e-12)
    assert metrics["entropy"] == pytest.approx(entropy)


def test_clip_schedule_and_target_kl():
    objective = PPOClip(clip_range=0.2, clip_schedule="linear", target_kl=0.01)
    _, metrics = objective.loss(flat_batch(ACTIONS, OLD, ADVANTAGES), LossContext(LogitsPolicy(LOGITS), progress=0.75))
    assert metrics["clip_range"] == pytest.approx(0.05)
    assert objective.stop_early({"approx_kl": 0.016}) and not objective.stop_early({"approx_kl": 0.014})
    assert not PPOClip().stop_early({"approx_kl": 100.0})


def test_approx_kl_estimates_the_true_kl():
    """The k3 estimator E_old[(r - 1) - log r] is unbiased for KL(old || new): check by sampling."""
    old_probs, new_logits = torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64), [0.1, 0.4, -0.3]
    generator = torch.Generator().manual_seed(0)
    actions = torch.multinomial(old_probs, 200_000, replacement=True, generator=generator)
    batch = flat_batch(actions.tolist(), old_probs.log()[actions].tolist(), [0.0] * len(actions))
    _, metrics = PPOClip().loss(batch, LossContext(LogitsPolicy(new_logits)))
    new_probs = torch.softmax(torch.tensor(new_logits, dtype=torch.float64), 0)
    true_kl = float((old_probs * (old_probs / new_probs).log()).sum())
    # 200k samples: the estimator's standard error is about 0.3% of the KL here (computed exactly), so 5% is ~18 sigma
    assert metrics["approx_kl"] == pytest.approx(true_kl, rel=0.05)

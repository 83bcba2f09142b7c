"""Schedules, value-loss clipping, normalization statistics and the actor-critic compatibility rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pgkit.data.batch import Batch
from pgkit.builtins.critics.value import Value
from pgkit.recipe.compatibility import check_compatibility
from pgkit.errors import CompatibilityError
from pgkit.data.normalization import ObservationNormalizer, RewardScaler, RunningMeanStd
from pgkit.recipe import resolve
from pgkit.functional.schedules import scheduled
from pgkit.runtime.training import train


def test_schedules():
    assert scheduled(0.3, "constant", 0.9) == 0.3
    assert [scheduled(1e-3, "linear", p) for p in (0.0, 0.25, 1.0, 1.5)] == pytest.approx([1e-3, 7.5e-4, 0.0, 0.0])


class Identity(torch.nn.Module):
    def forward(self, obs):
        return obs[:, 0]


def value_batch(predicted, old, returns) -> Batch:
    n = len(predicted)
    zeros = torch.zeros(n)
    return Batch(
        obs=torch.tensor(predicted).unsqueeze(1), actions=zeros, log_probs=zeros, rewards=zeros,
        terminated=zeros.bool(), truncated=zeros.bool(), next_obs=zeros.unsqueeze(1),
        values=torch.tensor(old), returns=torch.tensor(returns),
    )


def test_value_loss_by_hand():
    batch = value_batch([1.0, 4.0], old=[0.0, 0.0], returns=[0.0, 2.0])
    assert Value().loss(Identity(), batch).item() == pytest.approx((1 + 4) / 2)
    # clip 0.5: clipped predictions 0.5 and 0.5; per element max((1)^2, (0.5)^2)=1, max((2)^2, (1.5)^2)=4
    assert Value(clip_range=0.5).loss(Identity(), batch).item() == pytest.approx((1 + 4) / 2)
    batch = value_batch([1.0, 1.0], old=[3.0, 0.0], returns=[1.0, 1.0])
    # element 0: unclipped 0, clipped 3 - 0.5 = 2.5 -> (1.5)^2 = 2.25 is larger; element 1: 0 and (0.5)^2
    assert Value(clip_range=0.5).loss(Identity(), batch).item() == pytest.approx((2.25 + 0.25) / 2)
    assert Value(loss="huber", huber_delta=1.0).loss(Identity(), value_batch([3.0], [0.0], [0.0])).item() == pytest.approx(2.5)


def test_normalized_targets_regress_the_head_on_standardized_returns():
    """MAPPO's value normalization: the statistics follow the returns (debiased exponential averages), V is
    sigma * head + mu, and the loss is the regression of the head on (R - mu) / sigma."""
    from pgkit.builtins.critics.value import TargetStatistics, ValueFunction

    stats = TargetStatistics(beta=0.9)
    rng = np.random.default_rng(0)
    returns = [torch.tensor(rng.normal(50.0, 10.0, 256), dtype=torch.float32) for _ in range(400)]
    for batch in returns:
        stats.update(batch)
    assert float(stats.mean()) == pytest.approx(50.0, abs=1.0) and float(stats.std()) == pytest.approx(10.0, rel=0.05)
    torso = torch.nn.Identity()
    torso.out_features = 1
    module = ValueFunction(torso, normalized_targets=True)
    with torch.no_grad():
        module.head.weight.fill_(1.0), module.head.bias.zero_()
    batch = value_batch([0.5, -1.0], old=[0.0, 0.0], returns=[60.0, 40.0])
    loss = Value(normalize_targets=True).loss(module, batch)  # updates the statistics with these returns first
    mu, sigma = module.targets.mean(), module.targets.std()
    head = torch.tensor([0.5, -1.0])
    assert loss.item() == pytest.approx(float(((head - (torch.tensor([60.0, 40.0]) - mu) / sigma) ** 2).mean()), rel=1e-5)
    assert torch.allclose(module(torch.tensor([[0.5]])), sigma * 0.5 + mu)


def test_running_mean_std_matches_numpy():
    rng = np.random.default_rng(0)
    data = rng.normal(3.0, 2.0, size=(1000, 3))
    stats = RunningMeanStd((3,))
    for chunk in np.array_split(data, 7):
        stats.update(chunk)
    np.testing.assert_allclose(stats.mean, data.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(stats.var, data.var(axis=0), rtol=1e-4)


def test_observation_normalizer_freezes_without_update():
    normalizer = ObservationNormalizer((2,), clip=5.0)
    normalizer(np.array([[0.0, 10.0], [2.0, 30.0]]), update=True)
    before = normalizer.state_dict()
    out = normalizer(np.array([[1.0, 20.0]]), update=False)
    assert normalizer.state_dict() == before
    np.testing.assert_allclose(out, [[0.0, 0.0]], atol=1e-3)
    assert normalizer(np.array([[1e6, 20.0]]), update=False)[0, 0] == 5.0  # clipped


def test_reward_scaler_tracks_discounted_return_and_resets():
    scaler = RewardScaler(num_envs=2, gamma=0.5, clip=100.0)
    scaler(np.array([1.0, 1.0]), np.array([False, True]))
    assert scaler.returns.tolist() == [1.0, 0.0]
    scaler(np.array([1.0, 1.0]), np.array([False, False]))
    assert scaler.returns.tolist() == [1.5, 1.0]


BASE = {
    "env": {"id": "CartPole-v1", "num_envs": 2},
    "policy_head": "categorical",
    "objective": "ppo_clip",
    "optimizer": "adam",
    "logger": [],
}


@pytest.mark.parametrize(
    "slots, path, message",
    [
        ({"advantage": "gae"}, "advantage", "needs state values V(s) from a critic"),
        ({"advantage": "td", "critic": "value", "baseline": "mean_return"}, "baseline", "needs an advantage estimator that subtracts the baseline b(s) (td, n_step and gae use the critic directly)"),
        ({"advantage": "gae", "critic": "value", "objective": "reinforce", "trainer": {"type": "on_policy", "epochs": 10}}, "objective", "only correct on on-policy data (trainer.epochs=1)"),
    ],
)
def test_actor_critic_rules(registry, slots, path, message):
    recipe = resolve({**BASE, **slots}, registry)
    with pytest.raises(CompatibilityError) as info:
        check_compatibility(recipe, registry)
    assert any(p.path == path and message in p.message for p in info.value.problems)


def test_ppo_trains_with_every_option(registry, tmp_path):
    recipe = resolve(
        {
            **BASE,
            "env": {"id": "Pendulum-v1", "num_envs": 2, "normalize": {"obs": True, "reward": True}, "rescale_actions": True},
            "policy_head": "gaussian",
            "critic": {"type": "value", "clip_range": 0.2, "shared_torso": True},
            "advantage": {"type": "gae", "normalize": True},
            "objective": {"type": "ppo_clip", "clip_schedule": "linear", "target_kl": 0.02},
            "optimizer": {"type": "adam", "lr_schedule": "linear"},
            "trainer": {"type": "on_policy", "total_steps": 256, "steps_per_env": 64, "epochs": 3, "minibatch_size": 32},
        },
        registry,
    )
    agent, run = train(recipe, run_dir=tmp_path, registry=registry)
    metrics = run.last_metrics
    for key in ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction", "explained_variance", "learning_rate", "steps_per_second"):
        assert np.isfinite(metrics[key]), key
    assert metrics["learning_rate"] == 0.0  # linear schedule at the end of training
    assert agent.critic.torso is agent.policy.torso
    assert agent.obs_normalizer.stats.count > 256  # updated on every observation seen
    assert agent.action_space.high.tolist() == [1.0]
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["agent"]["obs_normalizer"]["mean"] == agent.obs_normalizer.stats.mean.tolist()


def test_adam_uses_the_fused_kernel_and_matches_the_reference():
    from pgkit.builtins.optimizers.torch_optimizers import Adam

    torch.manual_seed(0)
    ours, reference = torch.nn.Parameter(torch.randn(5)), None
    reference = torch.nn.Parameter(ours.detach().clone())
    fused, plain = Adam(lr=0.1).build([ours]), torch.optim.Adam([reference], lr=0.1)
    assert fused.defaults["fused"] is True
    for _ in range(10):
        for parameter, optimizer in ((ours, fused), (reference, plain)):
            optimizer.zero_grad()
            (parameter**3).sum().backward()
            optimizer.step()
    torch.testing.assert_close(ours, reference)


def test_mlp_ensemble_members_are_mlp_torsos():
    """Member k of the batched ensemble computes what an MLPTorso with its weights computes."""
    import gymnasium as gym

    from pgkit.builtins.networks.mlp import MLP

    space = gym.spaces.Box(-1, 1, (5,))
    network = MLP(hidden_sizes=[8, 6], activation="relu", orthogonal_init=False)
    ensemble, torso = network.build_ensemble(space, 2), network.build(space)
    x = torch.randn(4, 5)
    for k in range(2):
        with torch.no_grad():
            for linear, weight, bias in zip(torso.linears, ensemble.weights, ensemble.biases):
                linear.weight.copy_(weight[k].t())
                linear.bias.copy_(bias[k, 0])
        torch.testing.assert_close(ensemble(x)[k], torso(x))


def test_q_ensemble_is_its_members_q_networks():
    """Q_k(s, a) of the twin critic equals member k's torso and its own Linear head on [s, a], for both
    members and for the first alone (networks=1), with the gradients of the head's weights."""
    import gymnasium as gym

    from pgkit.builtins.critics.q import TwinQ
    from pgkit.builtins.networks.mlp import MLP

    observations, actions = gym.spaces.Box(-1, 1, (5,)), gym.spaces.Box(-1, 1, (2,))
    network = MLP(hidden_sizes=[8, 6], activation="relu", orthogonal_init=False)
    critic = TwinQ().build(network, observations, actions, None)
    obs, action = torch.randn(4, 5), torch.randn(4, 2)
    features = critic.torsos(torch.cat([obs, action], dim=-1))
    q = critic(obs, action)
    for k in range(2):
        head = torch.nn.Linear(6, 1)
        with torch.no_grad():
            head.weight.copy_(critic.head_weight[k].t())
            head.bias.copy_(critic.head_bias[k, 0])
        torch.testing.assert_close(q[k], head(features[k]).squeeze(-1))
    torch.testing.assert_close(critic(obs, action, networks=1), q[:1])
    weight_gradient, = torch.autograd.grad(q.sum(), critic.head_weight)
    torch.testing.assert_close(weight_gradient, features.detach().sum(1).unsqueeze(-1))

"""Off-policy parts: replay buffer, Polyak averaging, TD targets, noise statistics, DPG rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pgkit.builtins.critics.q import TwinQ
from pgkit.builtins.objectives.dpg import DPG
from pgkit.builtins.trainers.off_policy import OffPolicy
from pgkit.data import ReplayBuffer
from pgkit.errors import CompatibilityError
from pgkit.functional import polyak_update
from pgkit.kinds.capabilities import LOG_PROB
from pgkit.nn import GaussianNoise, OrnsteinUhlenbeckNoise
from pgkit.recipe import resolve
from pgkit.recipe.compatibility import check_compatibility
from pgkit.runtime.training import train


def test_replay_wraps_around_and_keeps_the_newest():
    buffer = ReplayBuffer(5, (1,), torch.float32, (1,), num_envs=3)  # rounded up to 2 rows of 3
    assert buffer.capacity == 6
    for start in (0, 3, 6):  # three rows of one env stream each: s' of one row is s of the next
        ids = torch.arange(start, start + 3, dtype=torch.float32)
        buffer.add(ids[:, None], ids[:, None], ids, ids[:, None] + 3, ids == 7)
    assert len(buffer) == 6 and buffer.position == 3
    assert sorted(buffer.rewards.tolist()) == [3, 4, 5, 6, 7, 8]  # 0..2 were overwritten
    assert buffer.next_observations(torch.arange(6))[:, 0].tolist() == [9, 10, 11, 6, 7, 8] and buffer.terminated.sum() == 1


def stream(steps: int, num_envs: int, seed: int) -> list[tuple[torch.Tensor, ...]]:
    """Rows (obs, actions, rewards, next_obs, terminated) of N envs as a trainer adds them: s' is the next
    row's s, except where an episode ends (about 1 step in 4), where s' is a final observation."""
    generator = torch.Generator().manual_seed(seed)
    obs, rows = torch.randn(num_envs, 2, generator=generator), []
    for _ in range(steps):
        ended = torch.rand(num_envs, generator=generator) < 0.25
        final = torch.randn(num_envs, 2, generator=generator)
        following = torch.randn(num_envs, 2, generator=generator)
        next_obs = torch.where(ended[:, None], final, following)
        rows.append((obs, torch.randn(num_envs, 1, generator=generator), torch.randn(num_envs, generator=generator), next_obs, ended))
        obs = following  # after an episode's end the env resets: the next s is not this s'
    return rows


@pytest.mark.parametrize("capacity, num_envs", [(12, 3), (7, 3), (5, 1), (3, 3)])
def test_replay_stores_each_observation_once_and_gives_back_every_transition(capacity, num_envs):
    """Against a plain list of the newest transitions, every stored (s, a, r, s', terminated) comes back,
    through wrap-arounds, episode ends and a state_dict round trip."""
    buffer = ReplayBuffer(capacity, (2,), torch.float32, (1,), num_envs=num_envs)
    rows = stream(9, num_envs, seed=capacity)
    for row in rows:
        buffer.add(*row)
    kept = [tuple(part[k] for part in row) for row in rows for k in range(num_envs)][-buffer.capacity:]
    index = torch.tensor([(buffer.position + i) % buffer.capacity for i in range(buffer.capacity)])  # oldest first
    restored = ReplayBuffer(capacity, (2,), torch.float32, (1,), num_envs=num_envs)
    restored.load_state_dict(buffer.state_dict())
    for replay in (buffer, restored):
        next_obs = replay.next_observations(index)
        for i, (obs, action, reward, expected_next, terminated) in enumerate(kept):
            j = int(index[i])
            assert torch.equal(replay.obs[j], obs) and torch.equal(replay.actions[j], action) and replay.rewards[j] == reward
            assert torch.equal(next_obs[i], expected_next) and bool(replay.terminated[j]) == bool(terminated)
    assert len(buffer.next_apart) < len(kept)  # only the s' that differ are kept apart


def test_a_hundred_thousand_atari_frames_take_at_most_one_and_a_half_times_their_bytes():
    """1e5 observations of 4x84x84 uint8 (2.8 GB): stored once, not as s and s' (5.6 GB); the preallocated
    frames are not touched here (torch.empty), so the test allocates no memory it does not use."""
    buffer = ReplayBuffer(100_000, (4, 84, 84), torch.uint8, (1,), num_envs=8)
    raw = 100_000 * 4 * 84 * 84
    assert buffer.nbytes <= 1.5 * raw, buffer.nbytes / raw


def test_replay_samples_uniformly_consistent_rows():
    buffer = ReplayBuffer(100, (2,), torch.float32, (1,), num_envs=10)
    ids = torch.arange(10, dtype=torch.float32)
    buffer.add(torch.stack([ids, -ids], 1), ids[:, None], ids, torch.stack([ids + 1, -ids], 1), ids > 4)
    batch = buffer.sample(20_000, torch.Generator().manual_seed(0))
    assert torch.equal(batch.obs[:, 0], batch.rewards) and torch.equal(batch.actions[:, 0], batch.rewards)
    assert torch.equal(batch.next_obs[:, 0], batch.rewards + 1) and torch.equal(batch.terminated, batch.rewards > 4)
    assert not batch.truncated.any()
    counts = torch.bincount(batch.rewards.long(), minlength=10).float()
    # uniform over the 10 stored rows: each count ~ Binomial(20000, 0.1), sd ~ 42; allow 5 sd
    assert (counts - 2000).abs().max() < 5 * math.sqrt(20_000 * 0.1 * 0.9)


def test_polyak_update():
    target, source = [torch.zeros(3), torch.ones(2)], [torch.ones(3), torch.full((2,), 3.0)]
    polyak_update(target, source, tau=0.25)
    assert target[0].tolist() == [0.25] * 3 and target[1].tolist() == [1.5] * 2


class ConstantQ(torch.nn.Module):
    """Q_k(s, a) = c_k + a (for checking targets)."""

    def __init__(self, constants):
        super().__init__()
        self.constants = torch.tensor(constants)

    def forward(self, obs, action):
        return self.constants[:, None] + action[:, 0][None]


class FixedPolicy(torch.nn.Module):
    def __init__(self, action):
        super().__init__()
        self.action = action

    def forward(self, obs):
        from pgkit.builtins.policy_heads.deterministic import Dirac

        return Dirac(torch.full((obs.shape[0], 1), self.action))


def off_policy_batch():
    buffer = ReplayBuffer(4, (1,), torch.float32, (1,), num_envs=2)
    buffer.add(torch.zeros(2, 1), torch.zeros(2, 1), torch.tensor([1.0, 2.0]), torch.zeros(2, 1), torch.tensor([False, True]))
    batch = buffer.sample(64, torch.Generator().manual_seed(0))
    return batch.rows(batch.rewards.argsort())


def test_td_target_clipped_double_q_and_termination_mask():
    """y = r + gamma (1 - terminated) min_k Q'_k(s', mu'(s')); only termination stops bootstrapping."""
    batch = off_policy_batch()
    y = OffPolicy(gamma=0.5).td_target(FixedPolicy(0.5), ConstantQ([3.0, 1.0]), DPG(), batch)
    # reward 1, not terminated: 1 + 0.5 * min(3 + 0.5, 1 + 0.5) = 1.75; reward 2, terminated: 2
    assert set(zip(batch.rewards.tolist(), y.tolist())) == {(1.0, 1.75), (2.0, 2.0)}


def test_target_smoothing_noise_is_clipped():
    batch = off_policy_batch()
    y = OffPolicy(gamma=1.0, target_policy_noise=10.0, target_noise_clip=0.3).td_target(FixedPolicy(0.0), ConstantQ([0.0]), DPG(), batch)
    smoothing = (y - batch.rewards)[~batch.terminated]  # = the noisy target action, since Q' = a
    assert smoothing.abs().max() == pytest.approx(0.3) and smoothing.std() > 0


def test_noise_statistics():
    rng = np.random.default_rng(0)
    gaussian = np.stack([GaussianNoise((4, 2), 0.3, rng).sample() for _ in range(5000)])
    assert abs(gaussian.mean()) < 0.01 and gaussian.std() == pytest.approx(0.3, rel=0.03)
    ou = OrnsteinUhlenbeckNoise((64, 1), std=0.2, theta=0.15, dt=0.01, rng=rng)
    for _ in range(2000):  # burn in: 2000 steps >> 1 / (theta dt) = 667
        ou.sample()
    samples = np.stack([ou.sample() for _ in range(3000)])
    stationary = 0.2 / math.sqrt(2 * 0.15)  # std / sqrt(2 theta) for small dt
    assert samples.std() == pytest.approx(stationary, rel=0.1)
    lagged = np.corrcoef(samples[:-1].ravel(), samples[1:].ravel())[0, 1]
    assert lagged > 0.99  # temporally correlated, unlike Gaussian noise
    ou.reset(np.arange(64) < 32)
    assert (ou.state[:32] == 0).all() and (ou.state[32:] != 0).all()


def test_deterministic_head_bounds_and_no_log_prob(registry):
    import gymnasium as gym

    head = registry.lookup("policy_head", "deterministic").cls().build(3, gym.spaces.Box(-2.0, 4.0, (2,)))
    distribution = head(torch.randn(5, 3) * 100)
    assert distribution.mode.abs().max() <= 1
    env_action = head.env_action(torch.tensor([[-1.0, 1.0], [0.0, 0.0]]))
    assert env_action.tolist() == [[-2.0, 4.0], [1.0, 1.0]]
    with pytest.raises(NotImplementedError, match="dpg"):
        distribution.log_prob(distribution.mode)


BASE = {
    "env": {"id": "Pendulum-v1"},
    "policy_head": "deterministic",
    "critic": "twin_q",
    "objective": "dpg",
    "optimizer": "adam",
    "trainer": {"type": "off_policy", "total_steps": 64, "learning_starts": 16, "batch_size": 16, "buffer_size": 128, "policy_delay": 2, "target_policy_noise": 0.2, "log_every": 32},
    "logger": [],
}


@pytest.mark.parametrize(
    "changes, path, message",
    [
        ({"policy_head": "gaussian"}, "objective", "needs a deterministic policy a = mu(s), explored with added noise (deterministic_actions)"),
        ({"policy_head": "gaussian"}, "trainer", "needs actions an off-policy trainer can warm up with, explore and replay: squashed Box actions (deterministic, squashed_gaussian) or categorical choices (off_policy_actions)"),
        ({"critic": "value"}, "objective", "needs action values Q(s, a) from a critic (action_value)"),
        ({"objective": "reinforce"}, "objective", "needs log-probabilities log pi(a|s) from a stochastic policy head (log_prob)"),
        ({"objective": "ppo_clip", "policy_head": "gaussian"}, "objective", "needs batches collected by the current policy (an on-policy trainer)"),
        ({"trainer": {"type": "on_policy"}, "baseline": "none", "advantage": "gae"}, "objective", "needs replayed transitions with TD targets (an off-policy trainer)"),
        ({"trainer": {"type": "on_policy"}, "baseline": "none", "advantage": "gae"}, "critic", "needs replayed transitions"),
        ({"env": {"id": "CartPole-v1"}}, "policy_head", "needs a Box action space, but CartPole-v1 has Discrete(2)"),
    ],
)
def test_dpg_rules(registry, changes, path, message):
    recipe = resolve({**BASE, **changes}, registry)
    with pytest.raises(CompatibilityError) as info:
        check_compatibility(recipe, registry)
    assert any(p.path == path and message in p.message for p in info.value.problems), info.value


def test_td3_trains_and_targets_move_slowly(registry, tmp_path):
    agent, run = train(resolve(BASE, registry), run_dir=tmp_path, registry=registry)
    metrics = run.last_metrics
    assert metrics["steps"] == 64 and metrics["buffer_size"] == 64
    assert math.isfinite(metrics["value_loss"]) and math.isfinite(metrics["policy_loss"])
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert set(state) >= {"agent", "trainer", "components", "recipe", "rng"}
    assert set(state["trainer"]) >= {"policy_step", "critic_step", "targets", "sampler", "explorer"}
    assert set(state["trainer"]["explorer"]) == {"obs", "rng", "noise"}
    assert state["components"]["replay"]["buffer"]["size"] == 64  # the replay slot's state: its transitions


def test_q_loss_sums_the_ensemble():
    class Fixed(torch.nn.Module):
        def forward(self, obs, action):
            return torch.tensor([[1.0, 2.0], [3.0, 4.0]])

    from pgkit.data.batch import Batch

    batch = Batch(obs=torch.zeros(2, 1), actions=torch.zeros(2, 1), log_probs=torch.zeros(2), rewards=torch.zeros(2),
                  terminated=torch.zeros(2, dtype=torch.bool), truncated=torch.zeros(2, dtype=torch.bool), next_obs=torch.zeros(2, 1),
                  returns=torch.tensor([1.0, 1.0]))
    assert TwinQ().loss(Fixed(), batch).item() == pytest.approx((0 + 1) / 2 + (4 + 9) / 2)
    assert LOG_PROB not in DPG().requires


def test_bfloat16_precision_trains_float32_weights(registry, monkeypatch):
    seen = []
    original = torch.autocast.__init__

    def spy(self, device_type, dtype=None, enabled=True, cache_enabled=None):
        seen.append((dtype, enabled))
        original(self, device_type, dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)

    monkeypatch.setattr(torch.autocast, "__init__", spy)
    recipe = resolve({**BASE, "trainer": {**BASE["trainer"], "precision": "bfloat16"}}, registry)
    agent, run = train(recipe, registry=registry)
    assert math.isfinite(run.last_metrics["value_loss"]) and math.isfinite(run.last_metrics["policy_loss"])
    assert all(p.dtype == torch.float32 for p in agent.parameters())
    assert seen and all(entry == (torch.bfloat16, True) for entry in seen)

"""Recurrent off-policy learning (lstm, gru with SAC, TD3 and discrete SAC): the explorer carries the memory
and stores it with each transition, the uniform replay draws windows of an env's steps with it, and the
learner re-runs each window from that memory after a burn-in, every TD target reading its next observation
from the memory of its own episode (checked against a plain step-by-step loop); runs resume exactly."""

from __future__ import annotations

import pytest
import torch

from pgkit.builtins.replays.replay import Uniform
from pgkit.envs import EnvSettings, make_vector_env
from pgkit.errors import CompatibilityError
from pgkit.kinds import ReplayLayout
from pgkit.kinds.agent import Agent
from pgkit.recipe import resolve
from pgkit.recipe.compatibility import check_compatibility
from pgkit.runtime import Explorer, replay_sequences
from pgkit.testing import check_replay, check_resume

NOVEL_PENDULUM = {"id": "Pendulum-v1", "num_envs": 2, "wrappers": [{"type": "select", "indices": [0, 1]}, {"type": "time_limit", "max_episode_steps": 5}]}
SAC = {
    "seed": 0, "env": NOVEL_PENDULUM, "network": {"type": "lstm", "hidden_size": 8, "head_sizes": [8]}, "policy_head": "squashed_gaussian",
    "critic": "twin_q", "objective": "sac", "optimizer": "adam", "replay": "uniform", "logger": [],
    "trainer": {"type": "off_policy", "total_steps": 160, "learning_starts": 40, "batch_size": 16, "buffer_size": 200, "log_every": 20,
                "target_policy": False, "sequence_length": 4, "burn_in": 2},
}
TD3 = {**SAC, "network": {"type": "gru", "hidden_size": 8, "head_sizes": [8]}, "policy_head": "deterministic", "objective": "dpg",
       "trainer": {**SAC["trainer"], "target_policy": True, "policy_delay": 2, "target_policy_noise": 0.2}}
DISCRETE_SAC = {**SAC, "env": {"id": "CartPole-v1", "num_envs": 2, "wrappers": [{"type": "select", "indices": [0, 2]}]},
                "policy_head": "categorical", "critic": "twin_discrete_q", "objective": "discrete_sac"}


def test_the_uniform_replay_meets_the_sequence_contract():
    check_replay(Uniform())


class SkippingReplay(Uniform):
    """Broken: its windows run backwards in time."""

    name = "backwards"

    def sample_sequences(self, count, length, generator, progress):
        return self.buffer.sequences(self.buffer.sequence_index(count, length, generator).flip(0))


def test_the_sequence_contract_catches_windows_out_of_order():
    with pytest.raises(AssertionError, match="not consecutive steps of one env"):
        check_replay(SkippingReplay())


def built(registry, document):
    recipe = resolve(document, registry)
    settings = recipe.settings.env
    envs = make_vector_env(settings)
    agent = Agent.build(recipe.instantiate(), envs.single_observation_space, envs.single_action_space, env=settings)
    return agent, envs


def test_the_explorer_stores_the_memory_each_step_acted_from(registry):
    """Stepping the policy one observation at a time, zeroed after each episode end (5-step episodes), gives
    the memory each transition came with, exploring and warming up with random actions alike."""
    agent, envs = built(registry, SAC)
    explorer = Explorer(envs, agent, seed=0)
    steps = explorer.explore(6, random=True) + explorer.explore(6, random=False)
    memory, ended, episodes_ended = agent.initial_memory(2), torch.zeros(2, dtype=torch.bool), 0
    for obs, _, _, _, terminated, truncated, stored in steps:
        memory = memory * (~ended).float().unsqueeze(1)
        assert torch.equal(stored, memory)
        _, memory = agent.act(obs.numpy(), memory=memory)
        ended = terminated | truncated
        episodes_ended += int(ended.sum())
    assert episodes_ended == 4 and memory.abs().sum() > 0


def filled_replay(agent, envs, rows: int = 30) -> Uniform:
    replay = Uniform()
    replay.allocate(ReplayLayout(100, agent.obs_shape, agent.obs_dtype, (1,), agent.device, 2, 0.99, memory_size=agent.memory_size))
    explorer = Explorer(envs, agent, seed=0)
    for transition in explorer.explore(rows, random=False):
        replay.add(*transition)
    return replay


def plain_loop(agent, replay, index, burn_in):
    """Per window and step after the burn-in, by stepping one observation at a time from the stored memory: the
    policy's features of s_t and of s'_t (read from the memory after s_t, in s_t's episode) and Q_1(s'_t, 0)."""
    buffer, (steps, count) = replay.buffer, index.shape
    features, next_features, next_q = [], [], []
    zero_action = torch.zeros(1, 1)
    for m in range(count):
        memory = buffer.memory[index[0, m]].unsqueeze(0)
        for j in range(steps):
            slot = index[j, m]
            if j > 0 and bool(buffer.terminated[index[j - 1, m]] | buffer.truncated[index[j - 1, m]]):
                memory = torch.zeros_like(memory)
            with agent.sequences(memory, torch.zeros(1, 1, dtype=torch.bool)) as read:
                feature = agent.policy.torso(buffer.obs[slot].unsqueeze(0))
                agent.critic(buffer.obs[slot].unsqueeze(0), buffer.actions[slot].unsqueeze(0))
            memory = read.final
            with agent.sequences(memory, torch.zeros(1, 1, dtype=torch.bool)):
                following = agent.policy.torso(buffer.next_observations(slot.view(1)))
                q = agent.critic(buffer.next_observations(slot.view(1)), zero_action)[0]
            if j >= burn_in:
                features.append((j - burn_in, m, feature[0]))
                next_features.append((j - burn_in, m, following[0]))
                next_q.append((j - burn_in, m, q[0]))
    return features, next_features, next_q


@torch.no_grad()
def test_replayed_windows_match_a_plain_step_by_step_loop(registry):
    """Windows of 2 burn-in and 4 trained steps across 5-step episodes (so time limits end episodes inside them):
    the online features of each trained step, and the next-observation features and Q of its TD target
    (the final observation of its own episode where a time limit ended it), equal the plain loop's."""
    agent, envs = built(registry, SAC)
    replay = filled_replay(agent, envs)
    generator, count, burn_in, length = torch.Generator().manual_seed(3), 12, 2, 4
    index = replay.buffer.sequence_index(count, burn_in + length, torch.Generator().manual_seed(3))
    drawn = replay_sequences(replay, (agent.policy, agent.critic), (agent.policy, agent.critic), count, burn_in, length, generator, 0.0)
    truncated_inside = replay.buffer.truncated[index[burn_in:-1]].sum()
    assert truncated_inside > 0, "the windows should hold time limits to check the bootstrap from final observations"
    with drawn.online():
        online = agent.policy.torso(drawn.batch.obs).view(length, count, -1)
    with drawn.target():
        following = agent.policy.torso(drawn.next_obs)[drawn.next_rows].view(length, count, -1)
        q = agent.critic(drawn.next_obs, torch.zeros(len(drawn.next_obs), 1))[0][drawn.next_rows].view(length, count)
    features, next_features, next_q = plain_loop(agent, replay, index, burn_in)
    for t, m, expected in features:
        torch.testing.assert_close(online[t, m], expected, rtol=1e-5, atol=1e-6)
    for t, m, expected in next_features:
        torch.testing.assert_close(following[t, m], expected, rtol=1e-5, atol=1e-6)
    for t, m, expected in next_q:
        torch.testing.assert_close(q[t, m], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("document", [SAC, TD3, DISCRETE_SAC], ids=["lstm-sac", "gru-td3", "lstm-discrete-sac"])
def test_recurrent_off_policy_runs_resume_exactly(document, tmp_path):
    check_resume(document, workdir=tmp_path, stop_at=100)


@pytest.mark.parametrize("changes, message", [
    ({"replay": "prioritized"}, r"network: 'lstm'.*sequences"),
    ({"replay": {"type": "uniform", "n_step": 3}}, r"network: 'lstm'.*sequences"),
    ({"trainer": {**SAC["trainer"], "workers": {"type": "ray", "num_workers": 2}}}, "Ray workers do not keep; set trainer.workers: null"),
])
def test_where_replayed_sequences_cannot_be_drawn_the_recipe_is_refused(registry, changes, message):
    with pytest.raises(CompatibilityError, match=message):
        check_compatibility(resolve({**SAC, **changes}, registry), registry)

"""Multi-agent envs as vector envs whose columns are agents (pgkit.envs.agent_columns): the layout, autoreset,
idle agents masked out of batches, advantages and episode statistics, a centralized critic that reads the
global state alone, evaluation, exact resume, and the recipe errors of env.agents."""

from __future__ import annotations

import functools

import gymnasium as gym
import numpy as np
import pytest
import torch
from pettingzoo import ParallelEnv

from pgkit.data.batch import Batch
from pgkit.envs import EnvSettings, make_vector_env, probe_spaces
from pgkit.envs.agent_columns import AgentColumns
from pgkit.envs.settings import AgentsSettings
from pgkit.errors import PgkitError, RecipeError
from pgkit.plugins.registry import build_registry
from pgkit.recipe import resolve
from pgkit.runtime.training import build_agent
from pgkit.runtime.evaluation import evaluate
from pgkit.testing import check_resume

SPREAD = {"id": "mpe2:simple_spread_v3", "kwargs": {"N": 3, "max_cycles": 5}}
REGISTRY = build_registry(entry_points=False)


class Relay(ParallelEnv):
    """Agents a and b act for ``a_steps`` and ``b_steps`` steps, each then terminated; c joins at step ``c_joins``
    (None: never) and is truncated with a. Each observes the step count, earns 1 per step, and the state is the
    step count and the number of agents in play."""

    metadata = {"name": "relay"}

    def __init__(self, a_steps: int = 5, b_steps: int = 2, c_joins: int | None = None):
        self.a_steps, self.b_steps, self.c_joins = a_steps, b_steps, c_joins
        self.possible_agents = ["a", "b", "c"]
        self.state_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)
        self.t, self.agents = 0, []

    @functools.cache
    def observation_space(self, agent):
        return gym.spaces.Box(-np.inf, np.inf, (1,), np.float32)

    @functools.cache
    def action_space(self, agent):
        return gym.spaces.Discrete(2)

    def reset(self, seed=None, options=None):
        self.t, self.agents = 0, ["a", "b"] + (["c"] if self.c_joins == 0 else [])
        return {agent: self._obs() for agent in self.agents}, {agent: {} for agent in self.agents}

    def state(self):
        return np.array([self.t, len(self.agents)], dtype=np.float32)

    def step(self, actions):
        assert set(actions) == set(self.agents), f"acted for {sorted(actions)}, but {sorted(self.agents)} are in play"
        self.t += 1
        terminations = {"a": self.t >= self.a_steps, "b": self.t >= self.b_steps, "c": False}
        truncations = {"a": False, "b": False, "c": self.t >= self.a_steps}
        acted = list(self.agents)
        self.agents = [agent for agent in acted if not (terminations[agent] or truncations[agent])]
        if self.c_joins is not None and self.t == self.c_joins and self.t < self.a_steps:
            self.agents.append("c")
        observed = sorted(set(acted) | set(self.agents))
        return ({agent: self._obs() for agent in observed}, {agent: 1.0 for agent in acted},
                {agent: terminations[agent] for agent in acted}, {agent: truncations[agent] for agent in acted}, {agent: {} for agent in acted})

    def _obs(self):
        return np.array([self.t], dtype=np.float32)


def relay_columns(num_games: int = 1, **kwargs) -> AgentColumns:
    return AgentColumns(lambda: Relay(**kwargs), num_games, AgentsSettings(agent_id=True, critic_input="state"))


def test_columns_are_the_agents_of_each_game_with_their_index_and_the_shared_state():
    envs = make_vector_env(EnvSettings(**SPREAD, num_envs=2, agents={"agent_id": True, "critic_input": "state"}))
    assert envs.num_envs == 6 and envs.num_games == 2
    assert set(envs.single_observation_space.spaces) == {"observation", "agent", "state"}
    obs, info = envs.reset(seed=3)
    assert obs["agent"].tolist() == [0, 1, 2, 0, 1, 2]
    game = envs.games[1]
    np.testing.assert_array_equal(obs["state"][3], game.state())  # every column of a game reads its state
    np.testing.assert_array_equal(obs["observation"][4], game.aec_env.observe("agent_1"))
    assert info["alive"].all()
    joint = make_vector_env(EnvSettings(**SPREAD, agents={"critic_input": "joint"}))
    obs, _ = joint.reset(seed=3)
    np.testing.assert_array_equal(obs["state"][2], obs["observation"].reshape(-1))  # all agents' observations side by side


def test_a_game_restarts_when_its_agents_are_done_with_the_final_observations_in_info():
    envs = make_vector_env(EnvSettings(**SPREAD, agents={}))
    envs.reset(seed=0)
    for step in range(5):
        obs, rewards, terminated, truncated, info = envs.step(np.zeros(3, dtype=np.int64))
        assert ("final_obs" in info) == (step == 4)
    assert truncated.all() and not terminated.any()
    assert envs.games[0].aec_env.unwrapped.steps == 0  # the game began again ...
    assert not np.array_equal(info["final_obs"][0], obs[0])  # ... and its final observation is apart from the first of the next


def test_an_agent_that_finishes_early_leaves_its_column_idle_until_its_game_restarts():
    envs = relay_columns(a_steps=4, b_steps=2)
    _, info = envs.reset(seed=0)
    assert info["alive"].tolist() == [True, True, False]  # c has not joined
    alive, ends = [], []
    for _ in range(4):
        _, rewards, terminated, truncated, info = envs.step(np.zeros(3, dtype=np.int64))
        alive.append(info["alive"].tolist())
        ends.append((rewards.tolist(), terminated.tolist(), truncated.tolist()))
    assert alive == [[True, True, False], [True, False, False], [True, False, False], [True, True, False]]  # the last: a new game
    assert ends[1] == ([1.0, 1.0, 0.0], [False, True, False], [False, False, False])  # b's last step
    assert ends[2] == ([1.0, 0.0, 0.0], [False, False, False], [False, False, False])  # b idle: no reward, no episode end
    assert ends[3] == ([1.0, 0.0, 0.0], [True, False, False], [False, False, False])
    assert info["_final_obs"].tolist() == [True, False, False]  # only a acted in the step that ended the game


def test_an_agent_that_joins_late_acts_from_the_step_it_appears():
    envs = relay_columns(a_steps=4, b_steps=4, c_joins=2)
    envs.reset(seed=0)
    alive = [envs.step(np.zeros(3, dtype=np.int64))[4]["alive"].tolist() for _ in range(3)]
    assert alive == [[True, True, False], [True, True, True], [True, True, True]]


def test_idle_steps_stay_out_of_the_loss_rows_the_advantage_statistics_and_the_episode_statistics():
    recipe = {"env": {"id": "relay", "entry_point": "test_agent_columns:Relay", "kwargs": {"a_steps": 4, "b_steps": 1},
                      "num_envs": 2, "agents": {}},
              "policy_head": "categorical", "critic": "value", "advantage": {"type": "gae", "normalize": True},
              "objective": "ppo_clip", "optimizer": "adam", "logger": [],
              "trainer": {"type": "on_policy", "total_steps": 16, "steps_per_env": 8}}
    resolved = resolve(recipe, REGISTRY, source="test")
    agent = build_agent(resolved, REGISTRY)
    from pgkit.data.episodes import EpisodeStatistics
    from pgkit.runtime.monitor import MonitoredVectorEnv, StepCounter
    from pgkit.runtime.rollout import RolloutCollector

    statistics, counter = EpisodeStatistics(), StepCounter()
    envs = MonitoredVectorEnv(make_vector_env(resolved.settings.env), counter, statistics)
    batch = RolloutCollector(envs, agent, 8, seed=0).collect()
    assert counter.steps == 16  # 8 steps of 2 games, not of their 6 columns
    expected = np.array([[t % 4 == 0] for t in range(8)]) & np.array([[False, True, False]])  # b acts at each game's first step only
    expected[:, 0] = True
    np.testing.assert_array_equal(batch.alive.numpy(), np.tile(expected, (1, 2)))
    envs.flush()
    assert sorted((e.ret, e.length) for e in statistics.finished) == [(1.0, 1)] * 4 + [(4.0, 4)] * 4
    flat = batch.flatten()
    assert flat.rewards.shape[0] == int(batch.alive.sum()) == 20 and bool((flat.rewards == 1).all())
    batch.values, batch.next_values = torch.zeros(8, 6), torch.zeros(8, 6)
    agent.components["advantage"](batch, torch.zeros(8, 6))
    kept = batch.advantages[batch.alive]
    assert abs(float(kept.mean())) < 1e-6 and abs(float(kept.std()) - 1) < 1e-4  # standardized over the agents' steps


def test_a_centralized_critic_reads_the_state_and_the_policy_never_does():
    recipe = {"env": {**SPREAD, "agents": {"agent_id": True, "critic_input": "state"}}, "policy_head": "categorical",
              "critic": "value", "advantage": "gae", "objective": "ppo_clip", "optimizer": "adam", "logger": [],
              "trainer": {"type": "on_policy", "total_steps": 10, "steps_per_env": 5}}
    agent = build_agent(resolve(recipe, REGISTRY, source="test"), REGISTRY)
    space = agent.observation_space
    envs = make_vector_env(EnvSettings(**recipe["env"]))
    obs = torch.as_tensor(agent.prepare(envs.reset(seed=1)[0])).requires_grad_()
    from pgkit.data.structured import entry_columns

    state, local = slice(*entry_columns(space, "state")), slice(*entry_columns(space, "observation"))
    (policy_gradient,) = torch.autograd.grad(agent.policy(obs).logits.sum(), obs)
    (critic_gradient,) = torch.autograd.grad(agent.critic(obs).sum(), obs)
    assert (policy_gradient[:, state] == 0).all() and (policy_gradient[:, local] != 0).any()
    assert (critic_gradient[:, local] == 0).all() and (critic_gradient[:, state] != 0).any()
    shared = {**recipe, "critic": {"type": "value", "shared_torso": True}}
    with pytest.raises(PgkitError, match="shared_torso: false"):
        build_agent(resolve(shared, REGISTRY, source="test"), REGISTRY)


def test_evaluation_plays_whole_games_and_returns_the_agents_mean_return():
    recipe = {"env": {"id": "relay", "entry_point": "test_agent_columns:Relay", "kwargs": {"a_steps": 5, "b_steps": 2}, "agents": {}},
              "policy_head": "categorical", "critic": "value", "advantage": "gae", "objective": "ppo_clip", "optimizer": "adam",
              "logger": [], "trainer": {"type": "on_policy", "total_steps": 10, "steps_per_env": 5}}
    resolved = resolve(recipe, REGISTRY, source="test")
    result = evaluate(build_agent(resolved, REGISTRY), resolved.settings.env, episodes=3)
    assert result.returns == [pytest.approx((5 + 2 + 0) / 3)] * 3 and result.cut == 0  # c never joins: its return is 0


def test_a_multi_agent_recipe_resumes_bit_exactly(tmp_path):
    check_resume({"env": {**SPREAD, "num_envs": 2, "agents": {"agent_id": True, "critic_input": "state"}}, "policy_head": "categorical",
                  "critic": {"type": "value", "normalize_targets": True}, "advantage": {"type": "gae", "normalize": True}, "objective": "ppo_clip", "optimizer": "adam",
                  "trainer": {"type": "on_policy", "total_steps": 120, "steps_per_env": 6, "epochs": 2, "minibatch_size": 12, "log_every": 12}},
                 registry=REGISTRY, workdir=tmp_path)


def test_the_spaces_of_a_multi_agent_env_are_one_column_s():
    observation_space, action_space = probe_spaces(EnvSettings(**SPREAD, agents={"critic_input": "state"}))
    assert observation_space["observation"].shape == (18,) and observation_space["state"].shape == (54,) and action_space == gym.spaces.Discrete(5)


@pytest.mark.parametrize("change, path, says", [
    ({"wrappers": ["clip_action"]}, "env", "env.wrappers is not available with env.agents"),
    ({"vectorization": "async"}, "env", "env.vectorization is not available with env.agents"),
])
def test_settings_env_agents_cannot_take_are_refused_with_the_reason(change, path, says):
    with pytest.raises(RecipeError, match=says):
        resolve({"env": {**SPREAD, "agents": {}, **change}, "policy_head": "categorical"}, REGISTRY, source="test")


def test_an_env_module_that_is_not_there_is_a_problem_naming_env_id():
    problem = probe_spaces(EnvSettings(id="mpe2:simple_sprea_v3", agents={}))
    assert problem.path == "env.id" and "simple_sprea_v3" in problem.message
    problem = probe_spaces(EnvSettings(id="simple_spread_v3", agents={}))
    assert problem.path == "env.id" and "package:env_module" in problem.fix


def test_agents_that_act_in_other_spaces_are_refused_and_unlike_box_observations_padded():
    with pytest.raises(ValueError, match="act in other spaces"):
        make_vector_env(EnvSettings(id="mpe2:simple_speaker_listener_v4", agents={}))
    envs = make_vector_env(EnvSettings(id="mpe2:simple_adversary_v3", agents={}))
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (3, 10)  # the adversary observes 8 numbers, the good agents 10
    np.testing.assert_array_equal(obs[0, :8], envs.games[0].aec_env.observe("adversary_0"))
    assert (obs[0, 8:] == 0).all()


GROUPED = {"env": {"id": "mpe2:simple_adversary_v3", "kwargs": {"max_cycles": 6}, "num_envs": 2,
                   "agents": {"groups": {"adversaries": ["adversary"], "good": ["agent_0", "agent_1"]}, "critic_input": "state"}},
           "policy_head": "categorical", "critic": "value", "advantage": {"type": "gae", "normalize": True}, "objective": "ppo_clip",
           "optimizer": "adam", "logger": [], "trainer": {"type": "on_policy", "total_steps": 120, "steps_per_env": 6, "epochs": 2,
                                                          "minibatch_size": 12, "log_every": 12}}


def test_groups_label_each_column_and_every_agent_must_be_in_exactly_one():
    envs = make_vector_env(EnvSettings(**GROUPED["env"]))
    obs, _ = envs.reset(seed=0)
    assert obs["group"].tolist() == [0, 1, 1, 0, 1, 1] and envs.column_groups == ["adversaries", "good", "good"] * 2
    for groups, says in [({"a": ["adversary"]}, "agent agent_0 is in no group"), ({"a": ["adversary", "agent"], "b": ["agent_1"]}, "in the groups a, b"),
                         ({"a": ["adversary", "agent"], "b": ["nobody"]}, "the groups b hold none")]:
        with pytest.raises(ValueError, match=says):
            make_vector_env(EnvSettings(id="mpe2:simple_adversary_v3", agents={"groups": groups}))


def test_each_row_acts_and_learns_by_its_own_group_s_policy():
    agent = build_agent(resolve(GROUPED, REGISTRY, source="test"), REGISTRY)
    envs = make_vector_env(EnvSettings(**GROUPED["env"]))
    obs = torch.as_tensor(agent.prepare(envs.reset(seed=2)[0]))
    distribution = agent.policy(obs)
    actions = distribution.sample()
    groups = torch.tensor([0, 1, 1, 0, 1, 1])  # adversary_0, agent_0, agent_1 of each game
    for g, policy in enumerate(agent.policy.groups):
        own = policy(obs[groups == g])
        torch.testing.assert_close(distribution.log_prob(actions)[groups == g], own.log_prob(actions[groups == g]))
        torch.testing.assert_close(distribution.entropy()[groups == g], own.entropy())
    assert torch.allclose(torch.distributions.kl_divergence(distribution, agent.policy(obs)), torch.zeros(6), atol=1e-6)
    loss = distribution.log_prob(actions)[groups == 1].sum() + agent.critic(obs)[groups == 1].sum()  # the good agents' rows only
    loss.backward()
    assert all(p.grad is None or (p.grad == 0).all() for p in [*agent.policy.groups[0].parameters(), *agent.critic.groups[0].parameters()])
    assert all(p.grad is not None and (p.grad != 0).any() for p in agent.policy.groups[1].head.parameters())


def test_a_mixed_setting_of_two_policy_groups_resumes_bit_exactly(tmp_path):
    check_resume(GROUPED, registry=REGISTRY, workdir=tmp_path)


def test_policy_groups_with_normalized_targets_resume_bit_exactly(tmp_path):
    """Each group's critic keeps its own return statistics, saved as part of that group's checkpoint."""
    check_resume({**GROUPED, "critic": {"type": "value", "normalize_targets": True}}, registry=REGISTRY, workdir=tmp_path)


def test_each_group_s_returns_are_logged_and_evaluated(tmp_path):
    import csv

    import pgkit

    agent = pgkit.train({**GROUPED, "logger": ["csv"]}, run_dir=tmp_path / "run")
    rows = list(csv.DictReader(open(tmp_path / "run" / "metrics.csv")))
    assert {"return_mean/adversaries", "return_mean/good"} <= set(rows[0])
    last = rows[-1]
    assert float(last["return_mean"]) == pytest.approx((float(last["return_mean/adversaries"]) + 2 * float(last["return_mean/good"])) / 3, abs=1e-6)
    from pgkit.cli.plotting import read_curves

    curves = read_curves(tmp_path / "run")
    assert [label for (label, _), _, _ in curves] == ["recipe (adversaries)", "recipe (good)"]  # the recipe's name, by group
    np.testing.assert_allclose(curves[1][2][-1], float(last["return_mean/good"]))
    result = evaluate(agent, EnvSettings(**GROUPED["env"]), episodes=2)
    assert set(result.groups) == {"adversaries", "good"}
    assert result.returns[0] == pytest.approx((result.groups["adversaries"][0] + 2 * result.groups["good"][0]) / 3)


def test_a_recurrent_group_reads_its_own_columns_memory_and_leaves_the_others():
    """On 4 steps of 2 games (6 columns), each group's rows act as its own policy run alone on its own columns from
    their memory; the memory after the steps holds each group's new state in its columns and the old one elsewhere."""
    from pgkit.nn import recurrent_torsos, run_as_sequences

    agent = build_agent(resolve({**GROUPED, "network": "lstm"}, REGISTRY, source="test"), REGISTRY)
    envs = make_vector_env(EnvSettings(**GROUPED["env"]))
    raw, steps = envs.reset(seed=1)[0], []
    for _ in range(4):
        steps.append(torch.as_tensor(agent.prepare(raw)))
        raw = envs.step(np.array([envs.single_action_space.sample() for _ in range(6)]))[0]
    envs.close()
    obs = torch.stack(steps)  # [T, M, D]
    T, M, D = obs.shape
    memory, starts = torch.randn(M, agent.memory_size), torch.zeros(T, M, dtype=torch.bool)
    with torch.no_grad(), agent.sequences(memory, starts) as whole:
        distribution = agent.policy(obs.reshape(T * M, D))
    actions = distribution.sample()
    offsets = np.cumsum([0] + [t.state_size for t in agent.recurrent_torsos])
    position = {id(t): i for i, t in enumerate(agent.recurrent_torsos)}
    groups = torch.tensor([0, 1, 1] * 2)  # adversary_0, agent_0, agent_1 of each game
    for g, policy in enumerate(agent.policy.groups):
        (torso,) = recurrent_torsos(policy)
        i = position[id(torso)]
        state = slice(int(offsets[i]), int(offsets[i + 1]))
        columns = (groups == g).nonzero().squeeze(1)
        with torch.no_grad(), run_as_sequences((torso,), memory[columns][:, state], starts[:, columns]) as alone:
            own = policy(obs[:, columns].reshape(-1, D))
        rows = (groups.repeat(T) == g)
        torch.testing.assert_close(distribution.log_prob(actions)[rows], own.log_prob(actions[rows]))
        torch.testing.assert_close(whole.final[columns, state], alone.final)
        torch.testing.assert_close(whole.final[groups != g, state], memory[groups != g, state])


def test_recurrent_policy_groups_train_and_resume_bit_exactly(tmp_path):
    check_resume({**GROUPED, "network": "lstm"}, registry=REGISTRY, workdir=tmp_path)


def test_a_batch_of_a_recurrent_agent_refuses_idle_columns():
    batch = Batch(obs=torch.zeros(2, 2, 1), actions=torch.zeros(2, 2), log_probs=torch.zeros(2, 2), rewards=torch.zeros(2, 2),
                  terminated=torch.zeros(2, 2, dtype=torch.bool), truncated=torch.zeros(2, 2, dtype=torch.bool), next_obs=torch.zeros(2, 2, 1),
                  memory=torch.zeros(2, 2, 3), alive=torch.tensor([[True, True], [True, False]]))
    from pgkit.errors import TrainingError

    with pytest.raises(TrainingError, match="recurrent"):
        batch.flatten()


def test_an_aec_env_whose_agents_act_once_a_cycle_is_made_parallel_and_a_turn_based_one_plays_turns():
    aec = make_vector_env(EnvSettings(**SPREAD, agents={"api": "aec"}))
    parallel = make_vector_env(EnvSettings(**SPREAD, agents={}))
    assert not getattr(aec, "turn_based", False)
    np.testing.assert_array_equal(aec.reset(seed=4)[0], parallel.reset(seed=4)[0])
    actions = np.array([1, 2, 3])
    np.testing.assert_array_equal(aec.step(actions)[1], parallel.step(actions)[1])
    assert make_vector_env(EnvSettings(id="pettingzoo.classic:tictactoe_v3", agents={"api": "aec"})).turn_based  # tests/test_turn_columns.py


def test_the_policy_groups_export_to_onnx_acting_as_predict_does(tmp_path):
    pytest.importorskip("onnxruntime")
    import onnxruntime

    from pgkit.runtime.export import export_policy

    agent = build_agent(resolve(GROUPED, REGISTRY, source="test"), REGISTRY)
    path = export_policy(agent, tmp_path / "policy.onnx", "onnx")
    session = onnxruntime.InferenceSession(str(path))
    envs = make_vector_env(EnvSettings(**{**GROUPED["env"], "num_envs": 4}))
    for seed in range(3):
        obs, _ = envs.reset(seed=seed)
        exported = session.run(None, {"obs": agent.prepare(obs).astype(np.float32)})[0]
        np.testing.assert_array_equal(exported, agent.predict(obs)[0])


def test_a_group_builds_its_own_network_and_head_and_its_entries_are_checked_at_their_paths():
    recipe = {**GROUPED, "env": {**GROUPED["env"], "agents": {"groups": {
        "adversaries": {"agents": ["adversary"], "network": {"type": "mlp", "hidden_sizes": [16]}},
        "good": ["agent"]}}}}
    resolved = resolve(recipe, REGISTRY, source="test")
    agent = build_agent(resolved, REGISTRY)
    widths = [[m.out_features for m in policy.torso.modules() if isinstance(m, torch.nn.Linear)] for policy in agent.policy.groups]
    assert widths == [[16], [64, 64]]  # the adversaries' own network, the good agents' the recipe's
    again = resolve(resolved.to_dict(), REGISTRY, source="stored")  # a stored recipe resolves to the same groups
    assert again.settings.env.agents.groups["adversaries"].network.spec.hidden_sizes == [16]
    wrong = {**recipe, "env": {**recipe["env"], "agents": {"groups": {"adversaries": {"agents": ["adversary"], "network": {"type": "mlp", "width": 3}},
                                                                      "good": ["agent"]}}}}
    with pytest.raises(RecipeError, match=r"env\.agents\.groups\.adversaries\.network\.width"):
        resolve(wrong, REGISTRY, source="test")
    from pgkit.errors import CompatibilityError
    from pgkit.recipe.compatibility import check_compatibility

    unfit = {**recipe, "env": {**recipe["env"], "agents": {"groups": {"adversaries": {"agents": ["adversary"], "policy_head": "gaussian"},
                                                                      "good": ["agent"]}}}}
    with pytest.raises(CompatibilityError, match=r"env\.agents\.groups\.adversaries\.policy_head"):
        check_compatibility(resolve(unfit, REGISTRY, source="test"), REGISTRY)


OWN_OPTIMIZER = {**GROUPED, "env": {**GROUPED["env"], "agents": {**GROUPED["env"]["agents"], "groups": {
    "adversaries": {"agents": ["adversary"], "optimizer": {"type": "adam", "lr": 0.01, "lr_schedule": "linear", "max_grad_norm": 0.1},
                    "critic": {"type": "value", "loss": "huber", "huber_delta": 0.5}, "objective": {"type": "ppo_clip", "clip_range": 0.1}},
    "good": ["agent_0", "agent_1"]}}}}


def test_a_group_s_own_optimizer_steps_its_weights_and_the_recipe_s_the_others():
    """Adam's first step moves every weight with a gradient by lr * g / (|g| + eps), about lr whatever the clipping:
    0.01 for the adversaries' policy and critic (their own optimizer), 3e-4 for the good agents' (the recipe's)."""
    from pgkit.runtime import GradientStep

    agent = build_agent(resolve(OWN_OPTIMIZER, REGISTRY, source="test"), REGISTRY)
    envs = make_vector_env(EnvSettings(**GROUPED["env"]))
    obs = torch.as_tensor(agent.prepare(envs.reset(seed=0)[0]))
    envs.close()
    step = GradientStep(agent.components["optimizer"], [*agent.policy.parameters(), *agent.critic.parameters()])
    own = [*agent.policy.groups[0].parameters(), *agent.critic.groups[0].parameters()]
    assert len(step.parts) == 2 and {id(p) for p in step.parts[1].stepped} == {id(p) for p in own}
    before = [p.detach().clone() for p in agent.parameters()]
    distribution = agent.policy(obs)
    step.minimize(distribution.log_prob(distribution.sample()).sum() + agent.critic(obs).sum())
    moved = {id(p): (p.detach() - b).abs() for p, b in zip(agent.parameters(), before)}
    for parameters, lr in ((own, 0.01), ([*agent.policy.groups[1].parameters(), *agent.critic.groups[1].parameters()], 3e-4)):
        largest = torch.cat([moved[id(p)].flatten() for p in parameters]).max()
        assert float(largest) == pytest.approx(lr, rel=1e-3)
    assert step.set_learning_rate(0.5) == 3e-4 and step.parts[1].optimizer.param_groups[0]["lr"] == pytest.approx(0.005)


def test_a_group_s_own_critic_regresses_its_rows_by_its_own_loss():
    """The adversaries' critic loss is Huber (delta 0.5), the good agents' the recipe's MSE: the loss is each row's own
    group's loss, averaged over all rows."""
    from torch.nn import functional as F

    agent = build_agent(resolve(OWN_OPTIMIZER, REGISTRY, source="test"), REGISTRY)
    envs = make_vector_env(EnvSettings(**GROUPED["env"]))
    obs = torch.as_tensor(agent.prepare(envs.reset(seed=0)[0]))
    envs.close()
    returns = torch.linspace(-3.0, 3.0, len(obs))
    batch = Batch(obs=obs, actions=torch.zeros(len(obs)), log_probs=torch.zeros(len(obs)), rewards=torch.zeros(len(obs)),
                  terminated=torch.zeros(len(obs), dtype=torch.bool), truncated=torch.zeros(len(obs), dtype=torch.bool), next_obs=obs,
                  returns=returns)
    with torch.no_grad():
        values = agent.critic(obs)
    adversary = torch.tensor([True, False, False] * 2)
    by_row = torch.where(adversary, F.huber_loss(values, returns, delta=0.5, reduction="none"), F.mse_loss(values, returns, reduction="none"))
    assert agent.components["critic"].loss(agent.critic, batch).item() == pytest.approx(float(by_row.mean()), rel=1e-6)


def test_a_group_s_own_objective_scores_its_rows():
    """REINFORCE with an entropy coefficient of 0.5 for the adversaries and the recipe's 0 for the good agents: the
    loss is the mean over rows of -log pi(a|s) A - c_g H, each row's c its own group's."""
    groups = {"adversaries": {"agents": ["adversary"], "objective": {"type": "reinforce", "entropy_coef": 0.5}}, "good": ["agent_0", "agent_1"]}
    recipe = {**GROUPED, "objective": "reinforce", "trainer": {**GROUPED["trainer"], "epochs": 1},
              "env": {**GROUPED["env"], "agents": {**GROUPED["env"]["agents"], "groups": groups}}}
    agent = build_agent(resolve(recipe, REGISTRY, source="test"), REGISTRY)
    envs = make_vector_env(EnvSettings(**GROUPED["env"]))
    obs = torch.as_tensor(agent.prepare(envs.reset(seed=0)[0]))
    envs.close()
    with torch.no_grad():
        distribution = agent.policy(obs)
        actions = distribution.sample()
    advantages = torch.linspace(-1.0, 1.0, len(obs))
    batch = Batch(obs=obs, actions=actions, log_probs=torch.zeros(len(obs)), rewards=torch.zeros(len(obs)),
                  terminated=torch.zeros(len(obs), dtype=torch.bool), truncated=torch.zeros(len(obs), dtype=torch.bool), next_obs=obs,
                  advantages=advantages)
    from pgkit.kinds import LossContext

    loss, metrics = agent.components["objective"].loss(batch, LossContext(agent.policy))
    coefficient = torch.tensor([0.5, 0.0, 0.0] * 2)  # adversary_0, agent_0, agent_1 of each game
    by_row = -distribution.log_prob(actions) * advantages - coefficient * distribution.entropy()
    assert loss.item() == pytest.approx(float(by_row.mean()), rel=1e-5)
    assert float(metrics["entropy"]) == pytest.approx(float(distribution.entropy().mean()), rel=1e-5)


def test_a_group_s_trust_region_beside_the_recipe_s_gradient_objective_is_refused():
    from pgkit.errors import CompatibilityError
    from pgkit.recipe.compatibility import check_compatibility

    recipe = {**GROUPED, "env": {**GROUPED["env"], "agents": {**GROUPED["env"]["agents"], "groups": {
        "adversaries": {"agents": ["adversary"], "objective": "trpo"}, "good": ["agent_0", "agent_1"]}}}}
    with pytest.raises(CompatibilityError, match=r"env\.agents\.groups\.adversaries\.objective.*takes its own policy step.*'ppo_clip' gives a loss"):
        check_compatibility(resolve(recipe, REGISTRY, source="test"), REGISTRY)


def test_a_group_s_own_critic_needs_the_recipe_s():
    from pgkit.errors import CompatibilityError
    from pgkit.recipe.compatibility import check_compatibility

    recipe = {**OWN_OPTIMIZER, "critic": None, "advantage": {"type": "reward_to_go"}, "objective": "reinforce"}
    with pytest.raises(CompatibilityError, match=r"env\.agents\.groups\.adversaries\.critic.*the recipe has none"):
        check_compatibility(resolve(recipe, REGISTRY, source="test"), REGISTRY)


def test_a_group_s_own_optimizer_is_checked_at_its_path_and_resumes_bit_exactly(tmp_path):
    wrong = {**OWN_OPTIMIZER, "env": {**OWN_OPTIMIZER["env"], "agents": {"groups": {
        "adversaries": {"agents": ["adversary"], "optimizer": {"type": "adam", "learning_rate": 0.01}}, "good": ["agent"]}}}}
    with pytest.raises(RecipeError, match=r"env\.agents\.groups\.adversaries\.optimizer\.learning_rate"):
        resolve(wrong, REGISTRY, source="test")
    stored = resolve(OWN_OPTIMIZER, REGISTRY, source="test").to_dict()
    assert stored["env"]["agents"]["groups"]["adversaries"]["optimizer"]["lr"] == 0.01  # a stored recipe keeps it
    check_resume(OWN_OPTIMIZER, registry=REGISTRY, workdir=tmp_path)


def test_normalized_targets_keep_statistics_per_policy_group():
    """Each group's critic standardizes by statistics of its own rows' returns: after one loss on a batch whose
    adversary rows return 100 and good rows -5, the adversaries' mean is near 100 and the good agents' near -5, and
    the loss is the mean over rows of each row's own group's normalized regression."""
    from pgkit.builtins.critics.value import TargetStatistics, Value

    recipe = {**GROUPED, "critic": {"type": "value", "normalize_targets": True}}
    agent = build_agent(resolve(recipe, REGISTRY, source="test"), REGISTRY)
    envs = make_vector_env(EnvSettings(**GROUPED["env"]))
    obs = torch.as_tensor(agent.prepare(envs.reset(seed=0)[0]))
    envs.close()
    adversary = torch.tensor([True, False, False] * 2)  # adversary_0, agent_0, agent_1 of each game
    returns = torch.where(adversary, torch.tensor(100.0), torch.tensor(-5.0))
    batch = Batch(obs=obs, actions=torch.zeros(len(obs)), log_probs=torch.zeros(len(obs)), rewards=torch.zeros(len(obs)),
                  terminated=torch.zeros(len(obs), dtype=torch.bool), truncated=torch.zeros(len(obs), dtype=torch.bool), next_obs=obs,
                  returns=returns)
    loss = Value(normalize_targets=True).loss(agent.critic, batch)
    statistics = [next(m for m in critic.modules() if isinstance(m, TargetStatistics)) for critic in agent.critic.groups]
    assert [float(s.mean()) for s in statistics] == [pytest.approx(100.0), pytest.approx(-5.0)]
    expected = []
    for row in range(len(obs)):
        group = 0 if adversary[row] else 1
        critic, stats = agent.critic.groups[group], statistics[group]
        with torch.no_grad():
            value = critic(obs[row : row + 1])
        expected.append(float(((value - returns[row]) / stats.std()) ** 2))
    assert loss.item() == pytest.approx(sum(expected) / len(expected), rel=1e-4)  # sigma is 0.1 here: row-by-row rounding x10


def test_evaluating_a_multi_agent_env_against_other_agents_or_on_video_is_refused_with_the_reason(tmp_path):
    agent = build_agent(resolve(GROUPED, REGISTRY, source="test"), REGISTRY)
    for kwargs in ({"opponents": [agent]}, {"video_dir": tmp_path}):
        with pytest.raises(PgkitError, match="without --video"):
            evaluate(agent, EnvSettings(**GROUPED["env"]), episodes=1, **kwargs)

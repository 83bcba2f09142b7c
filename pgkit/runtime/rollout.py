"""Collecting on-policy batches: T steps from N vector envs into preallocated time-major buffers."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor
from torch.distributions import Distribution

from pgkit.envs.actions import as_numpy
from pgkit.data.batch import Batch
from pgkit.data.episodes import RunningEpisodes
from pgkit.data.normalization import RewardScaler
from pgkit.errors import TrainingError
from pgkit.envs.idle_columns import idle_columns
from pgkit.envs.making import with_final_observations
from pgkit.runtime.held_exploration import HeldExploration
from pgkit.runtime.turns import packed_turns, turns_waiting
from pgkit.kinds.agent import Agent
from pgkit.kinds.outputs import check_shape


class RolloutCollector:
    """Steps ``envs`` with the agent's policy and returns one Batch per ``collect()``.

    Observations are stored as the networks read them (normalized if the recipe asks); rewards are
    scaled by ``reward_scaler`` if given. V(s_t) comes with each step's action where the agent says so
    (``Agent.values_with_actions``: a torso the policy and the critic share then runs once for both, as in
    SB3); a recurrent agent's memory is carried and stored. Episodes carry on across batches;
    ``prior_rewards`` and ``prior_steps`` tell what each running episode gathered before (in the env's
    own rewards). A head that holds exploration noise across steps (gSDE) acts with it (``HeldExploration``).

    With ``whole_episodes`` a batch holds whole episodes only: each env steps at least ``num_steps``
    times and then on to the end of the episode it is in; its steps after that (while the other envs
    finish) are dropped, the batch is one column ``[L, 1]`` of the kept episodes back to back, and the
    envs are reset for the next batch. Stopping each env at an episode end (a stopping time) keeps
    Monte-Carlo returns exact and their gradient unbiased (Wald's identity), which cutting episodes at a
    fixed window does not. ``dropped_steps`` counts the steps the last batch dropped."""

    MAX_EPISODE_STEPS = 1_000_000  # a whole-episode batch waits this long for an episode to end

    def __init__(
        self,
        envs: gym.vector.VectorEnv,
        agent: Agent,
        num_steps: int,
        seed: int,
        reward_scaler: RewardScaler | None = None,
        whole_episodes: bool = False,
    ):
        self.envs, self.agent, self.num_steps, self.reward_scaler = envs, agent, num_steps, reward_scaler
        self.whole_episodes = whole_episodes
        self.dropped_steps = 0
        self.num_envs = envs.num_envs
        raw, _ = envs.reset(seed=seed)
        self.obs = agent.prepare(raw, update_statistics=True)
        self.episodes = RunningEpisodes(self.num_envs)
        self.starts = np.ones(self.num_envs, dtype=bool)  # the current observation begins an episode
        self.memory = agent.initial_memory(self.num_envs) if agent.memory_size else None  # a recurrent agent's, carried across batches
        self._columns = idle_columns(envs)  # a multi-agent env's or a native batch's, whose idle columns are masked
        self._turn_based = bool(getattr(self._columns, "turn_based", False))  # a turn-based game's: its columns' turns are packed
        if self._turn_based and (whole_episodes or self.memory is not None):
            raise TrainingError("a turn-based game (env.agents.api aec) trains on batches of each agent's turns, which cannot yet be "
                                f"{'whole episodes: set trainer.complete_episodes: false' if whole_episodes else 'sequences of a recurrent network: use a feed-forward one'}")
        self.exploration = HeldExploration(agent.policy, self.num_envs)  # a gSDE head's noise, drawn afresh each batch

    def state_dict(self) -> dict:
        """What continuing exactly needs besides the envs themselves: the current observation, running
        episodes, the reward scaler and a recurrent agent's memory."""
        return {
            "obs": torch.as_tensor(self.obs).clone(),
            "episodes": self.episodes.state_dict(),
            "reward_scaler": self.reward_scaler.state_dict() if self.reward_scaler else None,
            "starts": torch.as_tensor(self.starts).clone(),
            "memory": None if self.memory is None else self.memory.clone(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.obs = state["obs"].numpy().copy()
        self.episodes.load_state_dict(state["episodes"])
        if self.reward_scaler is not None:
            self.reward_scaler.load_state_dict(state["reward_scaler"])
        if "starts" in state:  # checkpoints from before recurrent agents lack them (and had no memory)
            self.starts = state["starts"].numpy().copy()
            self.memory = None if state["memory"] is None else state["memory"].to(self.agent.device)

    def metrics(self) -> dict[str, float]:
        """What the last batch is worth logging: the steps a whole-episode batch dropped."""
        return {"dropped_steps": float(self.dropped_steps)} if self.whole_episodes else {}

    def close(self) -> None:
        """Nothing to release: the envs are the loop's (``ctx.make_envs``) or the caller's to close."""

    def collect(self) -> Batch:
        """The next batch: ``[T, N]`` windows, or ``[L, 1]`` whole episodes (see the class)."""
        return self._collect_whole_episodes() if self.whole_episodes else self._collect_window()

    def _collect_window(self) -> Batch:
        agent, device, dtype, head = self.agent, self.agent.device, self.agent.obs_dtype, self.agent.policy.head
        num_steps, num_envs = self.num_steps, self.num_envs
        prior_rewards = self.episodes.returns.astype(np.float32)
        prior_steps = self.episodes.lengths.copy()
        # new buffers every batch: the batch's tensors share their memory (no copy at the end)
        obs = np.empty((num_steps, *self.obs.shape), dtype=self.obs.dtype)
        next_obs = np.empty_like(obs)
        env_rewards = np.empty((num_steps, num_envs), dtype=np.float64)  # as the env gave them
        rewards = env_rewards if self.reward_scaler is None else np.empty((num_steps, num_envs), dtype=np.float32)
        terminated = np.empty((num_steps, num_envs), dtype=bool)
        truncated = np.empty((num_steps, num_envs), dtype=bool)
        actions, log_probs, values = [], [], []
        recurrent = self.memory is not None
        starts, memory, next_memory = np.empty((num_steps, num_envs), dtype=bool), [], []  # recurrent agents only
        alive = np.empty((num_steps, num_envs), dtype=bool) if self._columns is not None else None
        with torch.inference_mode():
            self.exploration.start_batch()
            for t in range(num_steps):
                obs[t] = self.obs
                if alive is not None:
                    alive[t] = self._columns.alive
                if recurrent:
                    starts[t] = self.starts
                    memory.append(self.memory)
                distribution, value = self._act(torch.as_tensor(self.obs, dtype=dtype, device=device))
                if recurrent:
                    next_memory.append(self.memory)
                action = self.exploration.sample(distribution)
                log_probs.append(distribution.log_prob(action))
                actions.append(action)
                values.append(value)
                raw, env_rewards[t], terminated[t], truncated[t], info = self.envs.step(as_numpy(head.env_action(action)))
                if recurrent:
                    self.starts = terminated[t] | truncated[t]
                self.obs = agent.prepare(raw, update_statistics=True)
                next_obs[t] = with_final_observations(self.obs, info, agent.prepare)
                if self.reward_scaler is not None:
                    rewards[t] = self.reward_scaler(env_rewards[t], terminated[t] | truncated[t])
        if self._turn_based:
            return self._turns_batch(obs, actions, log_probs, values, env_rewards, rewards, terminated, truncated, next_obs, alive, prior_rewards, prior_steps)
        self.episodes.record(env_rewards, terminated | truncated, alive)
        # stacked outside inference mode: ordinary tensors autograd may use
        memories = (starts, _stack(memory), _stack(next_memory)) if recurrent else (None, None, None)
        return self._batch(obs, torch.stack(actions), torch.stack(log_probs), _stack(values), rewards, terminated, truncated, next_obs, *memories, alive, prior_rewards, prior_steps)

    def _collect_whole_episodes(self) -> Batch:
        device, dtype = self.agent.device, self.agent.obs_dtype
        num_envs = self.num_envs
        steps: list[tuple] = []  # (obs, action, log_prob, value, reward, terminated, truncated, next_obs, starts, memory, next_memory, alive) per step, each [N]
        stop = np.full(num_envs, -1)  # each env's last kept step: its first episode end at or after num_steps - 1
        with torch.inference_mode():
            self.exploration.start_batch()
            while (stop < 0).any():
                t = len(steps)
                if t >= self.num_steps + self.MAX_EPISODE_STEPS:
                    raise TrainingError(f"trainer.complete_episodes: an episode ran {self.MAX_EPISODE_STEPS:,} steps without ending; "
                                        "whole-episode batches need episodes that end (give the env a time limit, or set complete_episodes: false)")
                starts, memory = self.starts, self.memory
                alive = self._columns.alive if self._columns is not None else None
                distribution, value = self._act(torch.as_tensor(self.obs, dtype=dtype, device=device))
                action = self.exploration.sample(distribution)
                obs, _, reward, terminated, truncated, next_obs = self._step_envs(action)
                done = self.starts = terminated | truncated
                steps.append((obs, action, distribution.log_prob(action), value, reward, terminated, truncated, next_obs,
                              starts, memory, self.memory, alive))
                kept_end = (stop < 0) & done & (t >= self.num_steps - 1)
                if kept_end.any():
                    stop[kept_end] = t
                    if hasattr(self.envs, "record_no_more_episodes"):  # the loop's envs: the dropped episodes stay out of its statistics
                        self.envs.record_no_more_episodes(kept_end)
        self.dropped_steps = int((len(steps) - 1 - stop).sum())
        kept = (np.arange(len(steps))[:, None] <= stop).T.reshape(-1)  # [N * T]: env after env, each in time order

        def column(values: tuple) -> Tensor | np.ndarray | None:
            """Per-step [N, ...] values -> the kept steps of env 0, then env 1, ...: [L, 1, ...]."""
            stacked = _stack(values)
            if stacked is None:  # no critic, no values
                return None
            env_major = stacked.swapaxes(0, 1).reshape(-1, *stacked.shape[2:])
            return env_major[kept if isinstance(env_major, np.ndarray) else torch.from_numpy(kept)][:, None]

        whole = (np.zeros(1, dtype=np.float32), np.zeros(1, dtype=np.int64))  # no episode began before this batch
        self._reset_envs()
        return self._batch(*(column(field) for field in zip(*steps)), *whole)

    def _turns_batch(self, obs, actions, log_probs, values, env_rewards, rewards, terminated, truncated, next_obs, alive,
                     prior_rewards, prior_steps) -> Batch:
        """The batch of a turn-based game's T steps: each column's turns packed (``pgkit.runtime.turns``), the turns
        still waiting at the T-th step completed by stepping on (those steps' own moves are not learned from)."""
        agent = self.agent
        extra: list[tuple] = []  # per step past T: (obs, alive, env reward, reward, terminated, truncated, next_obs)
        waiting = turns_waiting(np.vstack([alive, self._columns.alive[None]]), terminated | truncated)
        with torch.inference_mode():
            while waiting.any():
                if len(extra) >= self.MAX_EPISODE_STEPS:
                    raise TrainingError(f"a turn-based game: an agent waited {self.MAX_EPISODE_STEPS:,} steps for its next turn without its "
                                        "episode ending; its turn cannot be completed (give the game an end)")
                acting = self._columns.alive
                distribution, _ = self._act(torch.as_tensor(self.obs, dtype=agent.obs_dtype, device=agent.device))
                step_obs, env_reward, reward, ended, cut, step_next_obs = self._step_envs(self.exploration.sample(distribution))
                extra.append((step_obs, acting, env_reward, reward, ended, cut, step_next_obs))
                waiting &= ~(ended | cut) & ~self._columns.alive
        more = [np.stack(field) for field in zip(*extra)] if extra else [None] * 7

        def joined(first: np.ndarray, index: int, *last: np.ndarray) -> np.ndarray:
            return np.concatenate([first, *([] if more[index] is None else [more[index]]), *last])

        all_obs, all_alive = joined(obs, 0, self.obs[None]), joined(alive, 1, self._columns.alive[None])
        all_env_rewards, all_rewards = joined(env_rewards, 2), joined(rewards, 3)
        all_terminated, all_truncated, all_next_obs = joined(terminated, 4), joined(truncated, 5), joined(next_obs, 6)
        self.episodes.record(all_env_rewards, all_terminated | all_truncated, all_alive[:-1])
        packed = packed_turns(all_alive, all_rewards, all_terminated, all_truncated, self.num_steps)
        source, columns = torch.from_numpy(packed.source), torch.arange(self.num_envs)
        stacked_values = _stack(values)
        return self._batch(packed.gather(obs), torch.stack(actions)[source, columns], torch.stack(log_probs)[source, columns],
                           None if stacked_values is None else stacked_values[source, columns], packed.rewards, packed.terminated,
                           packed.truncated, packed.next_observations(all_obs, all_next_obs), None, None, None, packed.kept, prior_rewards, prior_steps)

    def _step_envs(self, action: Tensor) -> tuple[np.ndarray, ...]:
        """The envs stepped with ``action`` and the current observation moved on: (the observation acted from, the env's
        rewards, the rewards learned from (scaled where the recipe asks), terminated, truncated, the next observations
        with the final ones where episodes ended); copies where the envs may reuse their buffers."""
        raw, env_reward, terminated, truncated, info = self.envs.step(as_numpy(self.agent.policy.head.env_action(action)))
        acted_from, self.obs = np.array(self.obs), self.agent.prepare(raw, update_statistics=True)
        reward = env_reward if self.reward_scaler is None else self.reward_scaler(env_reward, terminated | truncated)
        return acted_from, env_reward, reward, terminated, truncated, np.array(with_final_observations(self.obs, info, self.agent.prepare))

    def _act(self, obs: Tensor) -> tuple[Distribution, Tensor | None]:
        """pi(.|s_t) and V(s_t) (None unless ``Agent.values_with_actions``); a recurrent agent's memory carried on."""
        if self.memory is None:
            return self._policy_and_value(obs)
        with self.agent.sequences(self.memory, torch.as_tensor(self.starts, device=obs.device).unsqueeze(0)) as stepped:
            result = self._policy_and_value(obs)
        self.memory = stepped.final
        return result

    def _policy_and_value(self, obs: Tensor) -> tuple[Distribution, Tensor | None]:
        if not self.agent.values_with_actions:
            return self.agent.policy(obs), None
        with self.agent.torso_once():
            return self.agent.policy(obs), self.agent.critic(obs)

    def _reset_envs(self) -> None:
        """Fresh episodes for the next whole-episode batch (the envs stepped on past their kept episodes)."""
        raw, _ = self.envs.reset()
        self.obs = self.agent.prepare(raw, update_statistics=True)
        self.episodes = RunningEpisodes(self.num_envs)
        self.starts = np.ones(self.num_envs, dtype=bool)

    def _batch(self, obs, actions: Tensor, log_probs: Tensor, values: Tensor | None, rewards, terminated, truncated, next_obs,
               starts, memory: Tensor | None, next_memory: Tensor | None, alive, prior_rewards, prior_steps) -> Batch:
        """A Batch on the agent's device from time-major ``[T, N]`` arrays (numpy or torch)."""
        device, dtype = self.agent.device, self.agent.obs_dtype
        check_shape(self.agent.components["policy_head"], "log_prob", log_probs, tuple(rewards.shape), "[B] per step: one log-probability per action, summed over action dimensions")
        if values is not None:
            check_shape(self.agent.components["critic"], "V(s)", values, tuple(rewards.shape), "[B] per step: one value per observation")
        return Batch(
            obs=torch.as_tensor(obs, dtype=dtype, device=device),
            actions=actions,
            log_probs=log_probs,
            rewards=torch.as_tensor(rewards, dtype=torch.float32, device=device),
            terminated=torch.as_tensor(terminated, device=device),
            truncated=torch.as_tensor(truncated, device=device),
            next_obs=torch.as_tensor(next_obs, dtype=dtype, device=device),
            prior_rewards=torch.as_tensor(prior_rewards, device=device),
            prior_steps=torch.as_tensor(prior_steps, device=device),
            values=values,
            starts=None if memory is None else torch.as_tensor(starts, device=device),  # recurrent agents only
            memory=memory,
            next_memory=next_memory,
            alive=None if alive is None else torch.as_tensor(alive, device=device),  # multi-agent envs only
        )


def _stack(values: tuple | list) -> Tensor | np.ndarray | None:
    """Per-step values ([N] each) -> [T, N, ...], as torch if they are tensors (None if they are None)."""
    if not len(values) or values[0] is None:
        return None
    return torch.stack(values) if isinstance(values[0], Tensor) else np.stack(values)


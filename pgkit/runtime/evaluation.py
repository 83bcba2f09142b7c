"""Evaluating a policy: returns of whole episodes, acting with the mode of the policy head."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import gymnasium as gym
import numpy as np

from pgkit.envs.actions import row
from pgkit.kinds.agent import Agent
from pgkit.kinds.callback import MAX_EPISODE_STEPS
from pgkit.envs.pettingzoo_making import make_agent_columns
from pgkit.envs.making import batch_of_one, make_env
from pgkit.envs.settings import EnvSettings
from pgkit.errors import EnvironmentFault, PgkitError
from pgkit.runtime.self_play import PolicySnapshot, SelfPlay


@dataclass(frozen=True)
class Evaluation:
    returns: list[float]
    cut: int = 0  # episodes cut at ``max_episode_steps`` (the env did not end them)
    max_episode_steps: int = MAX_EPISODE_STEPS
    successes: tuple[bool, ...] = ()  # info["is_success"] at the last step of each episode whose env reported it
    groups: dict[str, tuple[float, ...]] | None = None  # multi-agent envs with policy groups: each group's agents' mean return per episode
    opponent: str | None = None  # who the policy played where the evaluation chose its opponents (a turn-based game's random legal players)

    @property
    def success_rate(self) -> float | None:
        """The fraction of episodes that ended in success, or None if the env reports no ``is_success``."""
        return float(np.mean(self.successes)) if self.successes else None

    def describe_cut(self) -> str:
        """A note for the user when episodes were cut, else ''."""
        if not self.cut:
            return ""
        return (f"{self.cut} of {len(self.returns)} episodes did not end within {self.max_episode_steps:,} steps and were cut "
                "there (the env has no time limit?)")

    @property
    def mean(self) -> float:
        return float(np.mean(self.returns))

    @property
    def std(self) -> float:
        return float(np.std(self.returns))


def evaluate(
    agent: Agent,
    env: EnvSettings,
    episodes: int = 10,
    seed: int = 10_000,
    deterministic: bool = True,
    video_dir: Path | None = None,
    max_episode_steps: int = MAX_EPISODE_STEPS,
    progress: Callable[[int], None] | None = None,
    opponents: list[Agent] | None = None,
) -> Evaluation:
    """Undiscounted returns of ``episodes`` full episodes on a fresh env seeded with ``seed`` (and their
    success, where the env reports ``info["is_success"]``); an episode
    still running after ``max_episode_steps`` (the env's own time limit comes first) is cut there and
    counted in ``cut``. With ``video_dir``, every episode is recorded there (gymnasium's RecordVideo,
    needs rgb_array rendering). ``progress`` is called with the number of episodes done after each one. A
    multi-agent env's episode is one game, its return the mean of its agents' returns (as MAPPO reports them), or in a
    turn-based game the return of the policy's seat against random legal players.
    ``opponents`` are agents to play against in an env that takes opponents (pgkit/BoardGame-v0), each game against
    one of them drawn by the env, each moving as its policy samples; None: the env's own opponent."""
    if env.agents is not None:
        if video_dir is not None or opponents:
            raise PgkitError("a multi-agent env's games are evaluated with every agent acting by the policy: without --video (not "
                             "recorded yet) and without --against (its opponents are its own agents)")
        return _evaluate_game(agent, env, episodes, seed, deterministic, max_episode_steps, progress)
    single = make_env(env) if video_dir is None else _recording_env(env, video_dir)
    if opponents:
        SelfPlay.opposed(single, [PolicySnapshot(opponent) for opponent in opponents])
    returns, cut, successes = [], 0, []
    try:
        for episode in range(episodes):
            obs, _ = _env_call(env.id, "reset", single.reset, seed=seed + episode)
            total, done, steps, memory = 0.0, False, 0, None  # memory: a recurrent agent's, new each episode
            while not done:
                actions, memory = agent.act(batch_of_one(obs), deterministic, memory)
                action = row(actions, 0)
                obs, reward, terminated, truncated, info = _env_call(env.id, "step", single.step, action)
                total, steps = total + float(reward), steps + 1
                done = terminated or truncated or steps >= max_episode_steps
            cut += int(not (terminated or truncated))
            returns.append(total)
            if "is_success" in info:
                successes.append(bool(info["is_success"]))
            if progress is not None:
                progress(episode + 1)
    finally:
        single.close()
    return Evaluation(returns, cut, max_episode_steps, tuple(successes))


def _evaluate_game(agent: Agent, env: EnvSettings, episodes: int, seed: int, deterministic: bool, max_episode_steps: int,
                   progress: Callable[[int], None] | None) -> Evaluation:
    """``evaluate`` on a multi-agent env: one game at a time, every agent acting with the policy; in a turn-based
    game (``pgkit.envs.turn_columns``) the policy holds one seat (seat ``i % A`` in episode i) against random legal
    players in the others (as pgkit/BoardGame-v0's own opponent), the episode's return its seat's."""
    game = make_agent_columns(env, 1)
    labels = np.array(game.column_groups) if game.column_groups is not None else None
    turn_based = game.turn_based
    random_player = _RandomLegalPlayer(game.single_action_space, env.action_mask, seed) if turn_based else None
    returns, cut, groups = [], 0, {name: [] for name in (env.agents.groups or {})}
    try:
        for episode in range(episodes):
            obs, _ = _env_call(env.id, "reset", game.reset, seed=seed + episode)
            totals, steps, memory, over = np.zeros(game.num_envs), 0, None, False
            seat = episode % game.num_envs if turn_based else None  # the policy's column; the others play at random
            while not over and steps < max_episode_steps:
                actions, memory = agent.act(obs, deterministic, memory)
                if random_player is not None:
                    actions = random_player.replacing(actions, obs, keep=seat)
                obs, reward, _, _, info = _env_call(env.id, "step", game.step, actions)
                totals, steps, over = totals + reward, steps + 1, "final_obs" in info  # the game ended and began again
            cut += int(not over)
            returns.append(float(totals.mean() if seat is None else totals[seat]))
            for name, group_returns in groups.items():
                if seat is None:
                    group_returns.append(float(totals[labels == name].mean()))
                elif labels[seat] == name:
                    group_returns.append(float(totals[seat]))
            if progress is not None:
                progress(episode + 1)
    finally:
        game.close()
    return Evaluation(returns, cut, max_episode_steps, groups={name: tuple(r) for name, r in groups.items() if r} or None,
                      opponent="random legal players" if turn_based else None)


class _RandomLegalPlayer:
    """Uniformly random actions, legal under each column's action mask where the observation carries one."""

    def __init__(self, space: gym.Space, mask_key: str | None, seed: int):
        self.space, self.mask_key = space, mask_key
        self.space.seed(seed)

    def replacing(self, actions: np.ndarray, obs: Any, keep: int) -> np.ndarray:
        """``actions`` with every column but ``keep`` acting at random."""
        chosen = np.array(actions, copy=True)
        masks = obs.get(self.mask_key) if isinstance(obs, dict) and self.mask_key is not None else None
        for column in range(len(chosen)):
            if column != keep:
                chosen[column] = self.space.sample(mask=None if masks is None else np.asarray(masks[column], dtype=np.int8))
        return chosen


def _env_call(env_id: str, call: str, function, *args, **kwargs):
    try:
        return function(*args, **kwargs)
    except Exception as exc:
        raise EnvironmentFault(env_id, call, exc) from exc


def _recording_env(env: EnvSettings, video_dir: Path) -> gym.Env:
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # rgb_array frames need no window (pygame-rendered envs)
    probe = make_env(env)
    modes = probe.metadata.get("render_modes", [])
    probe.close()
    if "rgb_array" not in modes:
        raise PgkitError(f"{env.id} cannot render rgb_array frames (its render modes: {modes or 'none'}), so no video")
    try:
        return gym.wrappers.RecordVideo(make_env(env, render_mode="rgb_array"), str(video_dir), episode_trigger=lambda _: True, name_prefix=env.id)
    except gym.error.DependencyNotInstalled as exc:
        raise PgkitError(f"recording video needs more packages: pip install 'pgkit[video]' ({exc})") from None

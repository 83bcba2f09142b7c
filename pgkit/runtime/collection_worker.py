"""One worker's share of collection: its own vector envs and a CPU copy of the agent, stepping them with
the learner's latest weights (a Ray actor's body, see ``pgkit.runtime.ray_collection``; a plain class, so it
also runs and is tested in-process)."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from pgkit.data.batch import Batch
from pgkit.data.episodes import Episode, EpisodeStatistics
from pgkit.data.normalization import RewardScaler
from pgkit.envs.making import make_vector_env
from pgkit.plugins.registry import default_registry
from pgkit.recipe import resolve
from pgkit.runtime.monitor import MonitoredVectorEnv, StepCounter
from pgkit.runtime.rollout import RolloutCollector
from pgkit.runtime.training import build_agent

Moments = tuple[np.ndarray, np.ndarray, float]  # (mean, var, count) of the samples a worker saw


@dataclass
class WorkerShare:
    """What a worker sends back for one batch."""

    batch: dict[str, Any]  # the Batch's fields as numpy arrays (see ``as_arrays``): [T, n] windows, or [L, 1] whole episodes
    steps: int  # env steps taken (whole-episode batches also count the steps they dropped)
    episodes: list[Episode]  # episodes that finished during the batch
    obs_moments: Moments | None  # raw observations seen, for the learner's normalizer (None: no normalization)
    reward_moments: Moments | None  # discounted returns seen, for the learner's reward scaling
    dropped_steps: int
    seconds: float  # time the worker spent on the batch, weights loading included


def worker_document(document: dict[str, Any], seed: int, num_envs: int) -> dict[str, Any]:
    """The recipe a worker builds its agent and envs from: the learner's, on the CPU with one thread,
    ``num_envs`` envs and the worker's own seed, without what only the learner runs (loggers,
    callbacks, evaluation, workers of its own)."""
    worker = {key: value for key, value in document.items() if key not in ("logger", "callback")}
    worker.update(seed=seed, device="cpu", torch_threads=1, env={**document.get("env", {}), "num_envs": num_envs})
    worker["trainer"] = {**document["trainer"], "workers": None, "eval": None}
    return worker


class CollectionWorker:
    """Builds the recipe's agent on the CPU and ``num_envs`` envs seeded from ``seed`` (env i: seed + i),
    then collects one batch per ``collect`` with the learner's weights and normalization statistics, and
    returns it with the steps, finished episodes and the statistics' increments it saw."""

    def __init__(self, document: dict[str, Any], seed: int, num_envs: int, num_steps: int, whole_episodes: bool):
        recipe = resolve(worker_document(document, seed, num_envs), default_registry(), source="a collection worker")
        self.agent = build_agent(recipe)  # seeds Python, numpy and torch with the worker's seed
        env = recipe.settings.env
        self.counter, self.statistics = StepCounter(), EpisodeStatistics(window=num_envs * num_steps + num_envs)
        self.envs = MonitoredVectorEnv(make_vector_env(env, num_envs), self.counter, self.statistics, env.id)
        normalize = env.normalize
        scaler = RewardScaler(num_envs, normalize.gamma, normalize.clip_reward) if normalize.reward else None
        normalizer = self.agent.obs_normalizer
        fresh = normalizer.state_dict() if normalizer is not None else None
        self.collector = RolloutCollector(self.envs, self.agent, num_steps, seed, scaler, whole_episodes)
        self._unsent = normalizer.stats.since(fresh) if normalizer is not None else None  # the first resets' observations

    def collect(self, learner: dict[str, Any]) -> WorkerShare:
        """One batch with ``learner``'s state: {"agent": Agent.state_dict() on the CPU, "reward_stats": the
        learner's RunningMeanStd state or None}."""
        started = time.perf_counter()
        agent, scaler = self.agent, self.collector.reward_scaler
        agent.load_state_dict(as_tensors(learner["agent"]))
        normalizer = agent.obs_normalizer
        obs_before = normalizer.state_dict() if normalizer is not None else None
        if self._unsent is not None:
            normalizer.stats.merge(*self._unsent)
            self._unsent = None
        if scaler is not None:
            scaler.stats.load_state_dict(learner["reward_stats"])
        steps_before = self.counter.steps
        batch = self.collector.collect()
        self.envs.flush()
        episodes = list(self.statistics.finished)
        self.statistics.finished.clear()
        return WorkerShare(
            batch=as_arrays({f.name: getattr(batch, f.name) for f in dataclasses.fields(batch)}),
            steps=self.counter.steps - steps_before,
            episodes=episodes,
            obs_moments=normalizer.stats.since(obs_before) if normalizer is not None else None,
            reward_moments=scaler.stats.since(learner["reward_stats"]) if scaler is not None else None,
            dropped_steps=self.collector.dropped_steps,
            seconds=time.perf_counter() - started,
        )

    def close(self) -> None:
        self.envs.close()


def as_arrays(value: Any) -> Any:
    """Every tensor in ``value`` (nested dicts, lists, tuples) as a numpy array on the CPU: Ray sends numpy
    arrays out of band, without copies, where pickling a tensor runs torch.save (12 small tensors: 1.6 ms
    against 0.04 ms). Tensors numpy lacks a dtype for (bfloat16) stay tensors."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        return value if value.dtype == torch.bfloat16 else value.numpy()
    if isinstance(value, dict):
        return {key: as_arrays(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(as_arrays(item) for item in value)
    return value


def as_tensors(value: Any) -> Any:
    """``as_arrays`` undone: every numpy array as a tensor (a copy: Ray's arrays are read-only views of its store)."""
    if isinstance(value, np.ndarray):
        return torch.tensor(value)
    if isinstance(value, dict):
        return {key: as_tensors(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(as_tensors(item) for item in value)
    return value

"""The bodies of Ray workers: each builds the recipe's agent on the CPU and its own envs, and per call
steps them with the learner's latest weights and normalization statistics (see ``pgkit.runtime.ray_collection``).
Plain classes: they also run, and are tested, in-process."""

from __future__ import annotations

import dataclasses
import time
import traceback
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from pgkit.data.episodes import Episode, EpisodeStatistics
from pgkit.data.normalization import RewardScaler
from pgkit.envs.making import make_vector_env
from pgkit.errors import PgkitError
from pgkit.kinds.agent import Agent
from pgkit.plugins.registry import default_registry
from pgkit.recipe import resolve
from pgkit.runtime.exploration import TRANSITION_FIELDS, Explorer
from pgkit.runtime.monitor import MonitoredVectorEnv, StepCounter
from pgkit.runtime.rollout import RolloutCollector
from pgkit.runtime.self_play import SelfPlay
from pgkit.runtime.training import build_agent

Moments = tuple[np.ndarray, np.ndarray, float]  # (mean, var, count) of the samples a worker saw


@dataclass
class WorkerShare:
    """What a worker sends back for one call."""

    data: dict[str, Any]  # numpy arrays (see ``as_arrays``): a Batch's fields, or transitions [k, n, ...]
    steps: int  # env steps taken (whole-episode batches also count the steps they dropped)
    episodes: list[Episode]  # episodes that finished during the call
    obs_moments: Moments | None  # raw observations seen, for the learner's normalizer (None: no normalization)
    reward_moments: Moments | None = None  # discounted returns seen, for the learner's reward scaling
    dropped_steps: int = 0
    seconds: float = 0.0  # time the worker spent on the call, weights loading included


def worker_document(document: dict[str, Any], seed: int, num_envs: int) -> dict[str, Any]:
    """The recipe a worker builds its agent and envs from: the learner's, on the CPU with one thread,
    ``num_envs`` envs and the worker's own seed, without what only the learner runs (loggers,
    callbacks, evaluation, workers of its own)."""
    worker = {key: value for key, value in document.items() if key not in ("logger", "callback")}
    worker.update(seed=seed, device="cpu", torch_threads=1, env={**document.get("env", {}), "num_envs": num_envs})
    worker["trainer"] = {**document["trainer"], "workers": None, "eval": None}
    return worker


class WorkerFailure(PgkitError):
    """A worker's error as the learner re-raises it: one message, so that it survives pickling (pgkit's other
    errors take structured arguments, which Ray cannot rebuild in the learner)."""


class RemoteWorker:
    """The recipe's agent on the CPU (seeded with ``seed``) and ``num_envs`` monitored envs, then the
    subclass's ``setup(seed, *arguments)`` (the envs given the learner's self-play pool, ``opponents``, first); each
    call starts from the learner's state (and pool, where it changed) and reports the env
    steps, the finished episodes and what the envs added to the observation statistics (the first resets'
    observations with the first call). An error while building (an env the worker cannot make, say) is
    kept and raised by the first call, as a WorkerFailure: Ray would otherwise report a dead actor."""

    def __init__(self, document: dict[str, Any], seed: int, num_envs: int, *arguments: Any, opponents: dict[str, Any] | None = None):
        self._failure: WorkerFailure | None = None
        self._self_play: SelfPlay | None = None
        try:
            recipe = resolve(worker_document(document, seed, num_envs), default_registry(), source="a Ray worker's recipe")
            self.agent = build_agent(recipe)  # seeds Python, numpy and torch with the worker's seed
            self.env = recipe.settings.env
            self.counter, self.statistics = StepCounter(), EpisodeStatistics(window=1_000_000)  # drained every call
            self.envs = MonitoredVectorEnv(make_vector_env(self.env, num_envs), self.counter, self.statistics, self.env.id)
            normalizer = self.agent.obs_normalizer
            self._fresh = normalizer.state_dict() if normalizer is not None else None  # before setup's first reset
            if opponents is not None:  # the learner's self-play pool, before setup's first reset
                self._play(opponents)
            self.setup(seed, *arguments)
        except Exception as exc:
            self._failure = _failure(exc, "could not start")

    def _play(self, opponents: dict[str, Any]) -> None:
        """The envs' opponents from their next reset on: the learner's pool, rebuilt where it changed (a snapshot taken)."""
        if self._self_play is None:
            self._self_play = SelfPlay(self.env.self_play, self.agent)
        if opponents["next_refresh"] != self._self_play.next_refresh or not self._self_play.pool:
            self._self_play.load_state_dict(as_tensors(opponents), [self.envs])

    def setup(self, seed: int, *arguments: Any) -> None:
        """What the worker steps its envs with (a collector, an explorer)."""
        raise NotImplementedError

    def _call(self, learner: dict[str, Any], work) -> WorkerShare:
        """Load ``learner`` ({"agent": the modules it sends, "obs_normalizer": ...}), run ``work()`` (which
        returns the share's data), and report what it did."""
        if self._failure is not None:
            raise self._failure
        try:
            return self._report(learner, work)
        except Exception as exc:
            raise _failure(exc, "failed") from None

    def _report(self, learner: dict[str, Any], work) -> WorkerShare:
        started = time.perf_counter()
        agent, normalizer = self.agent, self.agent.obs_normalizer
        unsent = normalizer.stats.since(self._fresh) if self._fresh is not None else None
        self._fresh = None
        _load(agent, as_tensors(learner["agent"]))
        if "opponents" in learner:
            self._play(learner["opponents"])
        obs_before = normalizer.state_dict() if normalizer is not None else None
        if unsent is not None:
            normalizer.stats.merge(*unsent)
        steps_before = self.counter.steps
        data = work()
        self.envs.flush()
        episodes = list(self.statistics.finished)
        self.statistics.finished.clear()
        moments = normalizer.stats.since(obs_before) if normalizer is not None else None
        return WorkerShare(as_arrays(data), self.counter.steps - steps_before, episodes, moments, seconds=time.perf_counter() - started)

    def close(self) -> None:
        self.envs.close()


def _failure(exc: Exception, what: str) -> WorkerFailure:
    if isinstance(exc, PgkitError):
        return WorkerFailure(f"a Ray worker {what}: {exc}")
    return WorkerFailure(f"a Ray worker {what}: {type(exc).__name__}: {exc}\n{''.join(traceback.format_exception(exc)[-3:])}".rstrip())


def _load(agent: Agent, state: dict[str, Any]) -> None:
    """The modules (and normalizer statistics) ``state`` holds; the learner sends only what acting reads."""
    for name, module in agent.modules().items():
        if name in state:
            module.load_state_dict(state[name])
    if agent.obs_normalizer is not None:
        agent.obs_normalizer.load_state_dict(state["obs_normalizer"])


class CollectionWorker(RemoteWorker):
    """On-policy batches: ``collect`` returns one ``[T, n]`` window (or whole episodes) of a RolloutCollector."""

    def setup(self, seed: int, num_steps: int, whole_episodes: bool) -> None:
        normalize, num_envs = self.env.normalize, self.envs.num_envs
        scaler = RewardScaler(num_envs, normalize.gamma, normalize.clip_reward) if normalize.reward else None
        self.collector = RolloutCollector(self.envs, self.agent, num_steps, seed, scaler, whole_episodes)

    def collect(self, learner: dict[str, Any]) -> WorkerShare:
        """One batch with ``learner``'s state (all the agent's modules, and "reward_stats": the learner's reward
        statistics or None)."""
        def batch() -> dict[str, Any]:
            scaler = self.collector.reward_scaler
            if scaler is not None:
                scaler.stats.load_state_dict(learner["reward_stats"])
            collected = self.collector.collect()
            return {f.name: getattr(collected, f.name) for f in dataclasses.fields(collected)}

        share = self._call(learner, batch)
        scaler = self.collector.reward_scaler
        share.reward_moments = scaler.stats.since(learner["reward_stats"]) if scaler is not None else None
        share.dropped_steps = self.collector.dropped_steps
        return share


class ExplorationWorker(RemoteWorker):
    """Off-policy acting: ``explore`` steps an Explorer (the policy plus exploration noise) and returns its
    transitions, each field stacked ``[k, n, ...]``."""

    def setup(self, seed: int) -> None:
        self.explorer = Explorer(self.envs, self.agent, seed)

    def explore(self, learner: dict[str, Any], steps: int, random: bool) -> WorkerShare:
        def transitions() -> dict[str, Any]:
            stepped = self.explorer.explore(steps, random)
            return {name: torch.stack([step[i] for step in stepped]) for i, name in enumerate(TRANSITION_FIELDS)}

        return self._call(learner, transitions)


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

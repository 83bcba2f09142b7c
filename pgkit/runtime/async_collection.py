"""Asynchronous collection in this process: a background thread collects the next batch with a copy of the
agent that holds the learner's weights from before the current update, while the learner trains on this
batch (IMPALA's actor-learner overlap with one actor, one update of lag). Env steps that wait (a simulator,
I/O) and torch's kernels release the GIL, so collection and learning overlap there; pure-Python env steps
share the interpreter with the learner."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from pgkit.data.batch import Batch
from pgkit.data.episodes import Episode, EpisodeStatistics
from pgkit.data.normalization import RewardScaler
from pgkit.envs.making import make_vector_env
from pgkit.kinds.trainer import TrainingContext
from pgkit.runtime.monitor import MonitoredVectorEnv, StepCounter
from pgkit.runtime.rollout import RolloutCollector

RESUME_SEED_STRIDE = 1_000_003  # a resumed run's envs reset from seed + k * this (k: the resumes so far)


class AsyncCollector:
    """A collector (as ``RolloutCollector``: ``collect``, ``metrics``, ``close``, state) whose batches lag the
    learner by one update. ``collect`` returns the batch collected in the background (the first one is
    collected at once, by the learner's initial policy) and starts the next one with the learner's weights as
    they are now. The background envs count their steps and episodes privately; each batch's are recorded into
    the loop's when it is handed over, so the loop's budget, logs and checkpoints see whole batches only.

    Given the seed, training is deterministic: the thread acts only with its own copy of the agent, its own
    envs and the collector's state, and the learner draws nothing from torch's global generator while it runs
    (pgkit's on-policy objectives draw nothing). Resume: the checkpoint holds the learner and the reward
    statistics; the background envs are not in it, so a resumed run resets them with new seeds, and says so."""

    def __init__(self, ctx: TrainingContext, num_steps: int, whole_episodes: bool):
        self._ctx, self._num_steps, self._whole_episodes = ctx, num_steps, whole_episodes
        self.acting = ctx.agent.acting_copy()
        self._counter, self._statistics = StepCounter(), EpisodeStatistics(window=1_000_000)  # drained at each handover
        self._envs = MonitoredVectorEnv(make_vector_env(ctx.env), self._counter, self._statistics, ctx.env.id)
        normalize = ctx.env.normalize
        scaler = RewardScaler(self._envs.num_envs, normalize.gamma, normalize.clip_reward) if normalize.reward else None
        self._collector = RolloutCollector(self._envs, self.acting, num_steps, ctx.seed, scaler, whole_episodes)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="pgkit-collector")
        self._pending: Future | None = None
        self.resumes = 0
        self.policy_lag = 0  # learner updates between the weights that collected the last batch and those it trains

    @property
    def num_envs(self) -> int:
        return self._envs.num_envs

    @property
    def reward_scaler(self) -> RewardScaler | None:
        return self._collector.reward_scaler

    def collect(self) -> Batch:
        fresh = self._pending is None
        batch, steps, episodes = self._handover()
        self.policy_lag = 0 if fresh else 1
        self._start()
        self._ctx.record_steps(steps, episodes)
        if not self.acting.memory_size:  # V(s) of the learner's critic, not the acting copy's (recomputed by the trainer)
            batch.values = None
        return batch

    def _start(self) -> None:
        """Collect the next batch in the background with the weights the context gives collectors now (the learner's)."""
        learner = dict(self._ctx.acting_weights())
        learner.pop("obs_normalizer", None)  # the acting copy's statistics are the ones that grow
        self.acting.load_state_dict({**learner, **({"obs_normalizer": self.acting.obs_normalizer.state_dict()} if self.acting.obs_normalizer else {})})
        self._pending = self._thread.submit(self._collect)

    def _collect(self) -> tuple[Batch, int, list[Episode]]:
        before = self._counter.steps
        batch = self._collector.collect()
        self._envs.flush()
        episodes = list(self._statistics.finished)
        self._statistics.finished.clear()
        return batch, self._counter.steps - before, episodes

    def _handover(self) -> tuple[Batch, int, list[Episode]]:
        """The batch in flight (collected now if none is), its steps and episodes; the learner's observation
        statistics become the acting copy's."""
        if self._pending is None:
            self._start()
        pending, self._pending = self._pending, None
        collected = pending.result()  # an env's error is raised here, as in synchronous collection
        if self.acting.obs_normalizer is not None:
            self._ctx.agent.obs_normalizer.load_state_dict(self.acting.obs_normalizer.state_dict())
        return collected

    def _settle(self) -> None:
        """Wait for the batch in flight (its steps stay unrecorded until ``collect`` hands it over)."""
        if self._pending is not None:
            self._pending.exception()

    def metrics(self) -> dict[str, float]:
        return {"policy_lag": float(self.policy_lag), **self._collector.metrics()}

    def state_dict(self) -> dict[str, Any]:
        self._settle()
        scaler = self._collector.reward_scaler
        return {"reward_scaler": scaler.state_dict() if scaler is not None else None, "resumes": self.resumes}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._settle()
        self._pending = None
        self.resumes = int(state["resumes"]) + 1
        self.acting.load_state_dict(self._ctx.agent.state_dict())
        scaler = self._collector.reward_scaler
        self._collector = RolloutCollector(self._envs, self.acting, self._num_steps, self._ctx.seed + self.resumes * RESUME_SEED_STRIDE,
                                           scaler, self._whole_episodes)
        if scaler is not None:
            scaler.load_state_dict(state["reward_scaler"])
        self._ctx.note("resuming with asynchronous collection: its environments restart from fresh resets (new seeds)")

    def close(self) -> None:
        self._settle()
        self._thread.shutdown(wait=True)
        self._envs.close()


__all__ = ["AsyncCollector"]

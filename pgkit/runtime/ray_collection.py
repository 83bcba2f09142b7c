"""Collection on Ray actors: N workers, each with its own vector envs, step the learner's latest policy;
the learner broadcasts its weights once per batch (or training round) and joins what the workers return
(as RLlib's EnvRunner group does): on-policy batches (RayCollector) or off-policy transitions
(RayExplorer). Ray is an optional extra (``pip install 'pgkit[ray]'``), imported only when workers run."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import torch
from pydantic import Field
from torch import Tensor

from pgkit.data.batch import Batch
from pgkit.data.normalization import RunningMeanStd
from pgkit.errors import PgkitError, TrainingError
from pgkit.code_names import NamesCode
from pgkit.kinds.component import Spec
from pgkit.kinds.trainer import TrainingContext
from pgkit.runtime.ray_cluster import connect_ray, first_line
from pgkit.runtime.exploration import TRANSITION_FIELDS
from pgkit.runtime.ray_workers import CollectionWorker, ExplorationWorker, WorkerShare, as_arrays, as_tensors

SEED_STRIDE = 10_000  # worker k's envs are seeded from seed + k * SEED_STRIDE (env i of it: + i)


def _not_auto(address: str | None) -> list[str]:
    """A cluster named by address (auto joins the user's own running cluster, null starts one in the run)."""
    return [address] if address not in (None, "auto") else []


class RayWorkersSpec(Spec):
    type: Literal["ray"] = Field("ray", description="Where collection runs: ray (actors on a Ray cluster).")
    num_workers: int = Field(2, ge=1, description="Ray actors collecting, each with its own vector envs.")
    envs_per_worker: int | None = Field(
        None, ge=1, description="Envs each worker steps; null: env.num_envs split evenly over the workers (the batch stays the recipe's)."
    )
    address: Annotated[str | None, NamesCode("joined: a Ray cluster sends its workers code to run", _not_auto)] = Field(
        None, description="The Ray cluster to join: auto (the running local cluster, or RAY_ADDRESS), HOST:PORT or ray://HOST:PORT; "
        "null: start a Ray instance inside this run.",
    )
    cpus_per_worker: float = Field(1.0, gt=0, description="CPUs Ray reserves for each worker.")
    max_replacements: int = Field(10, ge=0, description="Workers that may die and be replaced in a run before it stops with an error.")
    start_timeout: float = Field(
        600.0, gt=0, description="Seconds the workers may take to start (Ray places each actor, which builds its envs and modules) before "
        "the run stops with an error rather than wait on a cluster that does not place them.",
    )


@dataclass
class Calls:
    """One method called on every worker of a RayWorkerGroup, not yet gathered."""

    method: str
    state: Any  # the broadcast learner state (a Ray object ref)
    arguments: tuple
    futures: list[Any]
    started: float  # perf_counter at the submit
    broadcast: float  # seconds the broadcast took


class RayWorkerGroup:
    """N Ray actors of one worker class (``pgkit.runtime.ray_workers``), worker k seeded from seed + k *
    SEED_STRIDE. ``call`` runs a method on all of them with one broadcast (``ray.put``) of the learner's state
    (and the self-play pool, which each worker's envs play from their next reset on; a new worker gets it at its start),
    counts their steps and episodes into the loop's, and merges what their envs showed into the learner's
    observation statistics (Chan et al.'s parallel mean and variance). A worker that dies is replaced by a new
    one (new seeds) that runs the call again: the run loses that worker's share, with a message."""

    def __init__(self, spec: RayWorkersSpec, ctx: TrainingContext, worker_class: type, *arguments: Any):
        self.spec, self.envs_per_worker = spec, _envs_per_worker(spec, ctx.env.num_envs)
        self.num_envs = spec.num_workers * self.envs_per_worker
        self.started = 0  # workers started so far (each gets the next seeds)
        self.timings: dict[str, float] = {}
        self._ctx, self._arguments = ctx, arguments
        self._ray = connect_ray(spec.address, spec.num_workers * spec.cpus_per_worker, "trainer.workers")
        self._remote = self._ray.remote(num_cpus=spec.cpus_per_worker, max_restarts=0)(worker_class)
        self._workers = self._started_workers(spec.num_workers)

    def _start(self) -> Any:
        seed = self._ctx.seed + self.started * SEED_STRIDE
        self.started += 1
        return self._remote.remote(self._ctx.recipe, seed, self.envs_per_worker, *self._arguments, opponents=self._ctx.remote_opponents())

    def _started_workers(self, count: int) -> list[Any]:
        """``count`` new workers, once every one has started (or failed to: the first call reports it); an
        error if some have not within ``start_timeout`` seconds (their actors are killed)."""
        ray, workers = self._ray, [self._start() for _ in range(count)]
        _, pending = ray.wait([worker.__ray_ready__.remote() for worker in workers], num_returns=count, timeout=self.spec.start_timeout)
        if pending:
            for worker in workers:
                ray.kill(worker)
            free, total = ray.available_resources().get("CPU", 0.0), ray.cluster_resources().get("CPU", 0.0)
            raise TrainingError(
                f"trainer.workers: {len(pending)} of {count} Ray workers did not start within {self.spec.start_timeout:g} s; the cluster "
                f"has {free:g} of its {total:g} CPUs free (other jobs may hold them, or its machine is too loaded to start processes)\n"
                "    fix: free the cluster's CPUs, or raise trainer.workers.start_timeout"
            )
        return workers

    def call(self, method: str, learner: dict[str, Any], *arguments: Any) -> list[WorkerShare]:
        """``method(learner, *arguments)`` on every worker; their shares, in worker order. Timings of the call
        (seconds): in all (collect_time), the broadcast (broadcast_time), the slowest worker's own work
        (worker_time) and the rest: scheduling, transfers, joining (transfer_time)."""
        return self.gather(self.submit(method, learner, *arguments))

    def submit(self, method: str, learner: dict[str, Any], *arguments: Any) -> Calls:
        """Start ``method(learner, *arguments)`` on every worker (one broadcast of ``learner``); ``gather`` waits for it."""
        started = time.perf_counter()
        opponents = self._ctx.remote_opponents()
        state = self._ray.put({**learner, "agent": as_arrays(learner["agent"]), **({"opponents": as_arrays(opponents)} if opponents else {})})
        broadcast = time.perf_counter() - started
        futures = [getattr(worker, method).remote(state, *arguments) for worker in self._workers]
        return Calls(method, state, arguments, futures, started, broadcast)

    def gather(self, calls: Calls) -> list[WorkerShare]:
        """The shares of ``submit``'s calls, in worker order, their steps and episodes counted into the loop's
        and their observations merged into the learner's statistics. Timings: collect_time runs from the submit
        (for calls submitted before the learner trained, wait_time is what the learner waited for them)."""
        waited = time.perf_counter()
        shares = [self._share(index, future, calls.method, calls.state, calls.arguments) for index, future in enumerate(calls.futures)]
        for share in shares:
            self._ctx.record_steps(share.steps, share.episodes)
            if share.obs_moments is not None:
                self._ctx.agent.obs_normalizer.stats.merge(*share.obs_moments)
        done = time.perf_counter()
        elapsed, slowest = done - calls.started, max(share.seconds for share in shares)
        self.timings = {"collect_time": elapsed, "wait_time": done - waited, "broadcast_time": calls.broadcast, "worker_time": slowest,
                        "transfer_time": max(0.0, elapsed - slowest)}
        return shares

    def _share(self, index: int, future: Any, method: str, state: Any, arguments: tuple) -> WorkerShare:
        ray = self._ray
        while True:
            try:
                return ray.get(future)
            except ray.exceptions.RayActorError as exc:
                replaced = self.started - self.spec.num_workers
                if replaced >= self.spec.max_replacements:
                    raise TrainingError(f"Ray worker {index} died, and {replaced} workers were replaced in this run already "
                                        f"(trainer.workers.max_replacements); last cause: {first_line(exc)}") from None
                self._workers[index] = self._start()
                self._ctx.note(f"Ray worker {index} died ({first_line(exc)}); replaced by a new worker with new seeds, which does its share of this batch again")
                future = getattr(self._workers[index], method).remote(state, *arguments)
            except ray.exceptions.RayTaskError as exc:
                cause = exc.cause
                if isinstance(cause, PgkitError):
                    raise cause from None
                raise TrainingError(f"Ray worker {index} failed: {type(cause).__name__}: {cause}") from None

    def restart(self, started: int) -> None:
        """New workers seeded after the ``started`` ones of a saved run (their envs restart from fresh resets:
        the workers' envs are not in the checkpoint)."""
        self.close()
        self.started = started
        self._workers = self._started_workers(self.spec.num_workers)
        self._ctx.note("resuming with Ray workers: their environments restart from fresh resets (new seeds)")

    def close(self) -> None:
        for worker in self._workers:
            self._ray.kill(worker)
        self._workers = []


class RayCollector:
    """A collector (as ``RolloutCollector``: ``collect``, ``metrics``, ``close``, state) whose steps run on a
    RayWorkerGroup: each worker collects ``[T, n]`` (or whole episodes) with the learner's modules, and the
    learner joins the batches along the env axis (``[T, N]``, N = the workers' envs together; whole episodes
    back to back) and merges the workers' reward statistics into its own. ``asynchronous``: each ``collect``
    returns the batches the workers collected meanwhile and sets them on the next one with the learner's
    weights as they are now, so the workers collect while the learner trains (batches one update old)."""

    def __init__(self, spec: RayWorkersSpec, ctx: TrainingContext, num_steps: int, whole_episodes: bool, asynchronous: bool = False):
        self.whole_episodes, self._ctx, self._agent, self._asynchronous = whole_episodes, ctx, ctx.agent, asynchronous
        self.reward_stats = RunningMeanStd() if ctx.env.normalize.reward else None
        self.dropped_steps = 0
        self.policy_lag = 0
        self.workers = RayWorkerGroup(spec, ctx, CollectionWorker, num_steps, whole_episodes)
        self._pending: Calls | None = None

    def _submit(self) -> Calls:
        learner = {"agent": self._ctx.acting_weights(), "reward_stats": self.reward_stats.state_dict() if self.reward_stats else None}
        return self.workers.submit("collect", learner)

    def collect(self) -> Batch:
        lagged = self._pending is not None
        calls, self._pending = self._pending or self._submit(), None
        shares = self.workers.gather(calls)
        for share in shares:
            if share.reward_moments is not None:
                self.reward_stats.merge(*share.reward_moments)
        self.dropped_steps = sum(share.dropped_steps for share in shares)
        self.policy_lag = int(lagged)
        if self._asynchronous:
            self._pending = self._submit()
        batch = Batch.join([Batch(**as_tensors(share.data)) for share in shares], along_time=self.whole_episodes, device=self._agent.device)
        if self._asynchronous and not self._agent.memory_size:  # V(s) of the learner's critic, not the behaviour's (recomputed by the trainer)
            batch.values = None
        return batch

    def metrics(self) -> dict[str, float]:
        lag = {"policy_lag": float(self.policy_lag)} if self._asynchronous else {}
        return {**self.workers.timings, **lag, **({"dropped_steps": float(self.dropped_steps)} if self.whole_episodes else {})}

    def state_dict(self) -> dict[str, Any]:
        return {"reward_stats": self.reward_stats.state_dict() if self.reward_stats else None, "started": self.workers.started}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.reward_stats is not None:
            self.reward_stats.load_state_dict(state["reward_stats"])
        self._pending = None  # the saved run's calls in flight died with its workers
        self.workers.restart(int(state["started"]))

    def close(self) -> None:
        self.workers.close()


class RayExplorer:
    """An explorer (as ``Explorer``: ``explore``, ``metrics``, ``close``, state) whose envs step on a
    RayWorkerGroup: per call the learner broadcasts its policy, each worker steps its envs ``steps`` times with
    it and its own exploration noise, and the transitions of all workers' envs return side by side, one
    tuple per step for the replay buffer."""

    def __init__(self, spec: RayWorkersSpec, ctx: TrainingContext):
        self._agent = ctx.agent
        self.workers = RayWorkerGroup(spec, ctx, ExplorationWorker)
        self.num_envs = self.workers.num_envs

    def explore(self, steps: int, random: bool) -> list[tuple[Tensor, ...]]:
        agent = self._agent
        sent = {"policy": agent.policy.state_dict()}
        if agent.obs_normalizer is not None:
            sent["obs_normalizer"] = agent.obs_normalizer.state_dict()
        shares = self.workers.call("explore", {"agent": sent}, steps, random)
        data = [as_tensors(share.data) for share in shares]
        joined = {name: torch.cat([fields[name] for fields in data], dim=1).to(agent.device) for name in TRANSITION_FIELDS}
        return [tuple(joined[name][t] for name in TRANSITION_FIELDS) for t in range(steps)]

    def metrics(self) -> dict[str, float]:
        return dict(self.workers.timings)

    def state_dict(self) -> dict[str, Any]:
        return {"started": self.workers.started}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.workers.restart(int(state["started"]))

    def close(self) -> None:
        self.workers.close()


def _envs_per_worker(spec: RayWorkersSpec, num_envs: int) -> int:
    if spec.envs_per_worker is not None:
        return spec.envs_per_worker
    if num_envs % spec.num_workers:
        raise PgkitError(f"trainer.workers: env.num_envs ({num_envs}) does not split evenly over {spec.num_workers} workers; "
                         "set trainer.workers.envs_per_worker, or make env.num_envs a multiple of num_workers")
    return num_envs // spec.num_workers


__all__ = ["RayCollector", "RayExplorer", "RayWorkerGroup", "RayWorkersSpec"]

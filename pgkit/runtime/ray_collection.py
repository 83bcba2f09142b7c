"""Collection on Ray actors: N workers, each with its own vector envs, step the learner's latest policy;
the learner broadcasts its weights once per batch and joins the workers' batches (as RLlib's EnvRunner
group does). Ray is an optional extra (``pip install 'pgkit[ray]'``), imported only when workers run."""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import Field

from pgkit.data.batch import Batch
from pgkit.data.normalization import RunningMeanStd
from pgkit.errors import PgkitError, TrainingError
from pgkit.kinds.component import Spec
from pgkit.kinds.trainer import TrainingContext
from pgkit.runtime.ray_cluster import connect_ray, first_line
from pgkit.runtime.collection_worker import CollectionWorker, WorkerShare, as_arrays, as_tensors

SEED_STRIDE = 10_000  # worker k's envs are seeded from seed + k * SEED_STRIDE (env i of it: + i)


class RayWorkersSpec(Spec):
    type: Literal["ray"] = Field("ray", description="Where collection runs: ray (actors on a Ray cluster).")
    num_workers: int = Field(2, ge=1, description="Ray actors collecting, each with its own vector envs.")
    envs_per_worker: int | None = Field(
        None, ge=1, description="Envs each worker steps; null: env.num_envs split evenly over the workers (the batch stays the recipe's)."
    )
    address: str | None = Field(
        None, description="The Ray cluster to join: auto (the running local cluster, or RAY_ADDRESS), HOST:PORT or ray://HOST:PORT; "
        "null: start a Ray instance inside this run.",
    )
    cpus_per_worker: float = Field(1.0, gt=0, description="CPUs Ray reserves for each worker.")
    max_replacements: int = Field(10, ge=0, description="Workers that may die and be replaced in a run before it stops with an error.")


class RayCollector:
    """A collector (as ``RolloutCollector``: ``collect``, ``metrics``, state) whose steps run on Ray actors.

    Per batch: one ``ray.put`` of the learner's weights and statistics, each worker collects ``[T, n]`` (or
    whole episodes) with them, and the learner joins the batches along the env axis (``[T, N]``, N = the
    workers' envs together), counts their steps and episodes into the loop's, and merges what their envs
    showed into its observation and reward statistics (Chan et al.'s parallel mean and variance). A worker
    that dies is replaced by a new one (new seeds) that collects its share again: the run loses that share's
    steps, with a message. After a resume the workers start anew: their envs restart from fresh resets."""

    def __init__(self, spec: RayWorkersSpec, ctx: TrainingContext, num_steps: int, whole_episodes: bool):
        self.spec, self.num_steps, self.whole_episodes = spec, num_steps, whole_episodes
        self._ctx, self._agent, self._note = ctx, ctx.agent, ctx.note
        self.envs_per_worker = _envs_per_worker(spec, ctx.env.num_envs)
        self.reward_stats = RunningMeanStd() if ctx.env.normalize.reward else None
        self.started = 0  # workers started so far (each gets the next seeds)
        self.dropped_steps = 0
        self._timings: dict[str, float] = {}
        self._ray = connect_ray(spec.address, spec.num_workers * spec.cpus_per_worker, "trainer.workers")
        self._document, self._seed = ctx.recipe, ctx.seed
        self._remote = self._ray.remote(num_cpus=spec.cpus_per_worker, max_restarts=0)(CollectionWorker)
        self._workers = [self._start_worker() for _ in range(spec.num_workers)]

    def _start_worker(self) -> Any:
        seed = self._seed + self.started * SEED_STRIDE
        self.started += 1
        return self._remote.remote(self._document, seed, self.envs_per_worker, self.num_steps, self.whole_episodes)

    def collect(self) -> Batch:
        ray, agent = self._ray, self._agent
        started = time.perf_counter()
        learner = ray.put({"agent": as_arrays(agent.state_dict()), "reward_stats": self.reward_stats.state_dict() if self.reward_stats else None})
        broadcast = time.perf_counter() - started
        pending = [worker.collect.remote(learner) for worker in self._workers]
        shares = [self._share(index, future, learner) for index, future in enumerate(pending)]
        for share in shares:
            self._ctx.record_steps(share.steps, share.episodes)
            if share.obs_moments is not None:
                agent.obs_normalizer.stats.merge(*share.obs_moments)
            if share.reward_moments is not None:
                self.reward_stats.merge(*share.reward_moments)
        self.dropped_steps = sum(share.dropped_steps for share in shares)
        batch = Batch.join([Batch(**as_tensors(share.batch)) for share in shares], along_time=self.whole_episodes, device=agent.device)
        elapsed = time.perf_counter() - started
        slowest = max(share.seconds for share in shares)
        self._timings = {"collect_time": elapsed, "broadcast_time": broadcast, "worker_time": slowest, "transfer_time": elapsed - slowest}
        return batch

    def _share(self, index: int, future: Any, learner: Any) -> WorkerShare:
        """Worker ``index``'s batch; a dead worker is replaced and its share collected again."""
        ray = self._ray
        while True:
            try:
                return ray.get(future)
            except ray.exceptions.RayActorError as exc:
                replaced = self.started - self.spec.num_workers
                if replaced >= self.spec.max_replacements:
                    raise TrainingError(f"Ray worker {index} died, and {replaced} workers were replaced in this run already "
                                        f"(trainer.workers.max_replacements); last cause: {first_line(exc)}") from None
                self._workers[index] = self._start_worker()
                self._note(f"Ray worker {index} died ({first_line(exc)}); replaced by a new worker with new seeds, which collects its share of this batch again")
                future = self._workers[index].collect.remote(learner)
            except ray.exceptions.RayTaskError as exc:
                cause = exc.cause
                if isinstance(cause, PgkitError):
                    raise cause from None
                raise TrainingError(f"Ray worker {index} failed: {type(cause).__name__}: {cause}") from None

    def metrics(self) -> dict[str, float]:
        """Seconds the last batch took: in all (collect_time), the learner's weights put in the object store
        (broadcast_time), the slowest worker's own collection (worker_time), and the rest: scheduling, transfers
        and joining (transfer_time)."""
        dropped = {"dropped_steps": float(self.dropped_steps)} if self.whole_episodes else {}
        return {**self._timings, **dropped}

    def state_dict(self) -> dict[str, Any]:
        return {"reward_stats": self.reward_stats.state_dict() if self.reward_stats else None, "started": self.started}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """The learner's statistics, and new workers seeded after those the saved run started (their envs
        restart from fresh resets: the workers' envs are not in the checkpoint)."""
        if self.reward_stats is not None:
            self.reward_stats.load_state_dict(state["reward_stats"])
        self.close()
        self.started = int(state["started"])
        self._workers = [self._start_worker() for _ in range(self.spec.num_workers)]
        self._note("resuming with Ray workers: their environments restart from fresh resets (new seeds)")

    def close(self) -> None:
        for worker in self._workers:
            self._ray.kill(worker)
        self._workers = []


def _envs_per_worker(spec: RayWorkersSpec, num_envs: int) -> int:
    if spec.envs_per_worker is not None:
        return spec.envs_per_worker
    if num_envs % spec.num_workers:
        raise PgkitError(f"trainer.workers: env.num_envs ({num_envs}) does not split evenly over {spec.num_workers} workers; "
                         "set trainer.workers.envs_per_worker, or make env.num_envs a multiple of num_workers")
    return num_envs // spec.num_workers


__all__ = ["RayCollector", "RayWorkersSpec"]

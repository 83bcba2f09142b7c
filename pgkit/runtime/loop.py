"""The training loop under every trainer, built-in or plugin.

    setup -> (restore a checkpoint) -> repeat: iterate, callbacks, log when due, stop on a signal or a
    callback's request, checkpoint when due

The trainer writes how it collects and how it learns (``setup``, ``iterate``); the loop owns the step
budget and progress (counted by the envs it makes), log rows with episode statistics, SIGINT and
SIGTERM, the NaN/inf guard, periodic atomic checkpoints and exact resume. A checkpoint holds the
agent, every component's state, the trainer's state (its attributes, see ``pgkit.kinds.state``),
the environments, the episode statistics and the global RNGs, so a resumed run ends bit-identical
to an uninterrupted one.
"""

from __future__ import annotations

import pickle
import random
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import cloudpickle
import gymnasium as gym
import numpy as np
import torch

from pgkit.data.episodes import Episode, EpisodeStatistics
from pgkit.envs.agent_columns import AgentColumns
from pgkit.envs.making import make_vector_env
from pgkit.envs.native import NextStepColumns
from pgkit.errors import ComponentError, PgkitError, TrainingError, TrainingInterrupted
from pgkit.kinds.agent import Agent
from pgkit.kinds.callback import Callback, CallbackRun
from pgkit.kinds.trainer import Trainer
from pgkit.runtime.checkpoint import layout_problem
from pgkit.runtime.guards import LIKELY_CAUSES, NonFiniteError
from pgkit.runtime.allocations import allocations_of
from pgkit.runtime.monitor import MonitoredVectorEnv, StepCounter
from pgkit.runtime.periodic_evaluation import PeriodicEvaluation
from pgkit.runtime.run import CHECKPOINT_FILE, Run
from pgkit.runtime.self_play import SelfPlay
from pgkit.runtime.signals import StopSignals
from pgkit.runtime.signing import key_path, sign, signed_by_this_user

NOT_SLOT_STATE = frozenset({"trainer", "logger", "callback"})  # the trainer and callbacks are saved apart; loggers resume by their start step


class Context:
    """The ``pgkit.kinds.TrainingContext`` a trainer gets: the agent, the run's settings, and envs that
    count steps and record episodes."""

    def __init__(self, agent: Agent, run: Run, total_steps: int, log_window: int):
        self.agent, self.total_steps = agent, total_steps
        self.seed = run.seed
        self.device = agent.device
        self.env = run.recipe.settings.env
        self.recipe = run.recipe.to_dict()
        self.counter = StepCounter()
        agents = run.recipe.settings.env.agents
        self.statistics = EpisodeStatistics(log_window, list(agents.groups) if agents is not None and agents.groups else None)
        self.envs: list[MonitoredVectorEnv] = []
        self.reported: dict[str, float] = {}  # the latest metric each callback reported (logged in every row)
        self._run = run
        self.behaviour: dict[str, Any] | None = None  # gradient_estimates' fixed behaviour policy (None: the learner acts)
        self.behaviour_acted = False  # whether a collector has loaded it
        settings = run.recipe.settings.env.self_play
        self.self_play = SelfPlay(settings, agent) if settings is not None else None
        self._opponents_sent = False  # whether the pool went to envs of other processes (remote_opponents)

    @property
    def step(self) -> int:
        return self.counter.steps

    @property
    def progress(self) -> float:
        return min(1.0, self.step / self.total_steps)

    def remote_opponents(self) -> dict[str, Any] | None:
        if self.self_play is None:
            return None
        self.self_play.refresh(self.step, self.envs)  # the first snapshot is there before any env resets
        self._opponents_sent = True
        return self.self_play.state_dict()

    def acting_weights(self) -> dict[str, Any]:
        if self.behaviour is None:
            return self.agent.state_dict()
        self.behaviour_acted = True
        return self.behaviour

    def make_envs(self, num_envs: int | None = None) -> MonitoredVectorEnv:
        envs = MonitoredVectorEnv(make_vector_env(self.env, num_envs), self.counter, self.statistics, self.env.id)
        self.envs.append(envs)
        if self.self_play is not None:  # the opponents are there before the trainer's first reset
            self.self_play.refresh(self.step, [])
            self.self_play.give(envs)
        return envs

    def after_iteration(self) -> None:
        """What the loop does between iterations besides the trainer: a snapshot into the self-play pool when due."""
        if self.self_play is None:
            return
        if not self.envs and not self._opponents_sent:
            raise PgkitError("env.self_play gives opponents to the envs the trainer makes (ctx.make_envs) or sends to others "
                             "(ctx.remote_opponents), but this trainer did neither: it cannot train with env.self_play")
        self.self_play.refresh(self.step, self.envs)

    def record_steps(self, steps: int, episodes: list[Episode]) -> None:
        self.counter.steps += steps
        self.statistics.extend(episodes)

    def note(self, text: str) -> None:
        self._run.note(text)

    def flush(self) -> None:
        """Bring the episode statistics up to date (before a log row or a checkpoint)."""
        for envs in self.envs:
            envs.flush()

    def close(self) -> None:
        for envs in self.envs:
            envs.close()

    def state_dict(self) -> dict[str, Any]:
        self.flush()
        return {
            "step": self.step,
            "episodes": self.statistics.state_dict(),
            "reported": dict(self.reported),
            "envs": [_envs_state(envs) for envs in self.envs],
            **({"self_play": self.self_play.state_dict()} if self.self_play is not None else {}),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if len(state["envs"]) != len(self.envs):
            raise ValueError(f"the checkpoint saved {len(state['envs'])} sets of envs, but the trainer made {len(self.envs)}")
        self.counter.steps = int(state["step"])
        self.statistics.load_state_dict(state["episodes"])
        self.reported = dict(state.get("reported", {}))
        for envs, saved in zip(self.envs, state["envs"]):
            envs.running.load_state_dict(saved["running"])
            if not _restore_envs(envs, saved["pickled"], saved.get("signature")):
                self.note("the environments' state was not restored (--fresh-envs, or not saved: subprocess envs, or envs such as ALE's and MuJoCo's whose state does not pickle): they restart from fresh resets")
        if self.self_play is not None:
            self.self_play.load_state_dict(state["self_play"], self.envs)


PICKLED_WHOLE = (AgentColumns, NextStepColumns)  # vector envs that pickle their whole state themselves (pickled, restore)


def _envs_state(envs: MonitoredVectorEnv) -> dict[str, Any]:
    """The observation statistics, and the sub-environments of a sync vector env pickled and signed (see
    ``pgkit.runtime.signing``); ``pickled`` is None if they cannot be pickled (async envs, say) or would not
    keep their state: an ``EzPickle`` env (ALE's, MuJoCo's, Box2D's) pickles as its constructor's arguments,
    and would resume as a new env where the saved one was. cloudpickle, as gymnasium's subprocess envs use,
    also pickles the lambdas inside gymnasium's wrappers. A multi-agent env's games and a native batch pickle whole
    (their ``pickled()``, ``AgentColumns``'s and ``NextStepColumns``'s)."""
    subenvs = getattr(envs.env, "envs", None)
    pickled = envs.env.pickled() if isinstance(envs.env, PICKLED_WHOLE) else None
    if subenvs is not None and not any(isinstance(env.unwrapped, gym.utils.EzPickle) for env in subenvs):
        try:
            pickled = cloudpickle.dumps(subenvs)
        except Exception:  # an env that cannot be pickled
            pickled = None
    return {"running": envs.running.state_dict(), "pickled": pickled, "signature": sign(pickled) if pickled is not None else None}


def _restore_envs(envs: MonitoredVectorEnv, pickled: bytes | None, signature: str | None) -> bool:
    if pickled is None or not (hasattr(envs.env, "envs") or isinstance(envs.env, PICKLED_WHOLE)):
        return False
    if not signed_by_this_user(pickled, signature):
        raise PgkitError(
            f"cannot resume: the environments' state in this checkpoint is not signed with your key ({key_path()}), so it was "
            "written by another user or machine, or altered since; unpickling it could run code.\n"
            "    fix: resume with --fresh-envs to restart the environments from new resets (the run goes on, but not bit-exact)"
        )
    try:
        saved = pickle.loads(pickled)  # signed by this user's key: pgkit wrote it
    except Exception as exc:  # e.g. the env's code changed since
        raise PgkitError(f"cannot resume: the environments' state does not load ({type(exc).__name__}: {exc}); resume with --fresh-envs") from None
    if isinstance(envs.env, PICKLED_WHOLE):
        envs.env.restore(saved)
        return True
    if len(saved) != len(envs.env.envs):
        raise ValueError(f"the checkpoint saved {len(saved)} environments, but this run has {len(envs.env.envs)}")
    envs.env.envs = saved
    return True


def rng_state() -> dict[str, Any]:
    """The global random generators: Python's, numpy's and torch's (CPU, and CUDA once in use)."""
    name, keys, position, has_gauss, cached = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": (name, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, cached),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None,
    }


def load_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    name, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None:
        torch.cuda.set_rng_state_all(state["cuda"])


def training_state(trainer: Trainer, agent: Agent, ctx: Context, elapsed: float, callbacks: list[Callback]) -> dict[str, Any]:
    """Everything an exact resume needs, as the checkpoint stores it."""
    return {
        "elapsed": elapsed,
        "agent": agent.state_dict(),
        "components": {slot: c.state_dict() for slot, c in agent.components.items() if slot not in NOT_SLOT_STATE and c is not None},
        "callbacks": [callback.state_dict() for callback in callbacks],
        "trainer": trainer.state_dict(),
        "context": ctx.state_dict(),
        "rng": rng_state(),
    }


def restore(trainer: Trainer, agent: Agent, ctx: Context, state: dict[str, Any], callbacks: list[Callback]) -> None:
    """Put back ``training_state``: after this the loop runs on exactly as it would have uninterrupted."""
    if state.get("format", 1) < 2:
        raise PgkitError("the checkpoint was written by pgkit 0.1, whose checkpoints hold no trainer or component state; it can be evaluated but not resumed")
    problem = layout_problem(state, agent.observation_space)
    if problem is not None:
        raise PgkitError(f"cannot resume: {problem}")
    try:
        agent.load_state_dict(state["agent"])
        components = {slot: c for slot, c in agent.components.items() if slot not in NOT_SLOT_STATE and c is not None}
        if set(components) != set(state["components"]):
            raise ValueError(f"the checkpoint holds the slots {sorted(state['components'])}, this recipe {sorted(components)}")
        for slot, component in components.items():
            component.load_state_dict(state["components"][slot])
        saved = state.get("callbacks", [])
        if len(callbacks) != len(saved):
            raise ValueError(f"the checkpoint holds the state of {len(saved)} callbacks, this recipe has {len(callbacks)}")
        for callback, callback_state in zip(callbacks, saved):
            callback.load_state_dict(callback_state)
        trainer.load_state_dict(state["trainer"])
        ctx.load_state_dict(state["context"])
    except (KeyError, ValueError, RuntimeError, TypeError, AttributeError, IndexError) as exc:
        reason = " ".join(str(exc).split())[:600]  # torch's load_state_dict errors span lines
        raise PgkitError(f"cannot resume: the checkpoint does not fit this recipe ({type(exc).__name__}: {reason})") from None
    load_rng_state(state["rng"])


def _callbacks(trainer: Trainer, agent: Agent) -> list[Callback]:
    """The recipe's callbacks, then the evaluation that ``trainer.eval`` asks for."""
    evaluation = [PeriodicEvaluation(trainer.spec.eval)] if trainer.spec.eval is not None else []
    return [*(agent.components.get("callback") or []), *evaluation]


def _next_row(step: int, every: int) -> int:
    """The first multiple of ``every`` after ``step``: where the next log row is due."""
    return (step // every + 1) * every


def _parameters_finite(agent: Agent) -> bool:
    return all(torch.isfinite(p).all() for p in agent.parameters())


def run_training(trainer: Trainer, agent: Agent, run: Run) -> None:
    """Train ``agent`` with ``trainer`` until its budget is spent; ``run`` says where to log and save,
    and which checkpoint to resume from. Denormal floats are flushed to zero meanwhile (as GPUs do): CPUs
    handle them in microcode, and optimizer moments and Polyak averages drift into them (SAC's updates
    ran 20% slower)."""
    with flushed_denormals():
        _run_training(trainer, agent, run)


@contextmanager
def flushed_denormals() -> Iterator[None]:
    flushed = torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if flushed:
            torch.set_flush_denormal(False)


def _run_training(trainer: Trainer, agent: Agent, run: Run) -> None:
    spec = trainer.spec
    ctx = Context(agent, run, spec.total_steps, spec.log_window)
    callbacks = _callbacks(trainer, agent)
    elapsed_before = 0.0
    try:
        with allocations_of(f"{trainer.describe()}'s setup", "make its buffers (e.g. trainer.buffer_size) or env.num_envs smaller"):
            trainer.setup(ctx)
        if run.resume is not None:
            restore(trainer, agent, ctx, run.resume, callbacks)
            elapsed_before = float(run.resume["elapsed"])
            if run.run_dir is not None:
                run.last_checkpoint = (run.run_dir / CHECKPOINT_FILE, ctx.step)
        run.start(spec.total_steps)
        for callback in callbacks:
            callback.start(CallbackRun(run.run_dir, run.recipe.to_dict(), run.recipe.settings.env, spec.total_steps, ctx.step))
        ctx.reported = {**{name: float("nan") for callback in callbacks for name in callback.metric_names()}, **ctx.reported}
        started = time.perf_counter() - elapsed_before
        every = run.recipe.settings.checkpoint_every
        last_saved, next_row = ctx.step, _next_row(ctx.step, spec.log_every)

        def save() -> Path | None:
            if run.run_dir is None:
                return None
            if not _parameters_finite(agent):
                raise NonFiniteError("agent's parameters", float("nan"))
            return run.save(ctx.step, training_state(trainer, agent, ctx, time.perf_counter() - started, callbacks))

        with StopSignals(run.note) as signals:
            while ctx.step < spec.total_steps:
                before = ctx.step
                with allocations_of(f"{trainer.describe()}'s iteration", "make its batch (e.g. trainer.steps_per_env, env.num_envs) smaller"):
                    metrics = trainer.iterate(ctx)
                if ctx.step == before:
                    raise ComponentError(f"{trainer.describe()} took no environment steps in an iteration; step the envs from ctx.make_envs")
                ctx.after_iteration()
                stop = None
                for callback in callbacks:
                    report = callback.after_iteration(ctx.step, metrics, agent)
                    if report is not None:
                        ctx.reported.update(report.metrics)
                        stop = stop or report.stop
                if ctx.step >= next_row or ctx.step >= spec.total_steps or stop:
                    next_row = _next_row(ctx.step, spec.log_every)
                    ctx.flush()
                    elapsed = time.perf_counter() - started
                    extra = trainer.log_metrics(ctx)
                    row = {**ctx.statistics.metrics(), **metrics, **extra, **ctx.reported}
                    run.log(ctx.step, {**row, "steps_per_second": ctx.step / elapsed, "time": elapsed})
                if stop:
                    run.note(f"stopping at step {ctx.step:,}: {stop}")
                    break
                if signals.received is not None and ctx.step < spec.total_steps:
                    path = save()
                    where = f"; checkpoint saved to {path}\nresume with: pgkit train --resume {path.parent}" if path else ""
                    raise TrainingInterrupted(f"interrupted at step {ctx.step:,}{where}", signals.exit_code)
                if every is not None and ctx.step - last_saved >= every:
                    save()
                    last_saved = ctx.step
        save()
    except NonFiniteError as exc:
        raise TrainingError(f"{exc} at step {ctx.step:,}. {LIKELY_CAUSES}\nTraining stopped; {run.describe_last_checkpoint()}.") from None
    finally:
        for callback in callbacks:
            callback.close()
        trainer.close()
        ctx.close()
        run.close()

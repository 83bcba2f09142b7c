"""Kind ``trainer``: how an algorithm collects experience and learns from it, one iteration at a time.

The training loop (``pgkit.runtime.loop``) runs every trainer, built-in or plugin. It owns the step
budget and progress, the log rows, SIGINT and SIGTERM, the NaN/inf guard, periodic atomic checkpoints
and exact resume. A trainer writes only ``setup`` and ``iterate``.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar, Protocol

import gymnasium as gym
import torch
from pydantic import Field

from pgkit.data.episodes import Episode
from pgkit.envs.settings import EnvSettings
from pgkit.kinds.agent import Agent
from pgkit.kinds.callback import EvaluationSpec
from pgkit.kinds.component import Component, Spec


class TrainingContext(Protocol):
    """What the loop hands ``setup`` and ``iterate``."""

    agent: Agent  # the policy, the critic and the recipe's components (agent.components[slot])
    seed: int  # the recipe's seed
    device: torch.device  # where the agent's modules live
    env: EnvSettings  # the recipe's env settings
    recipe: dict[str, Any]  # the whole recipe, resolved, as its YAML document reads (what workers build the same agent from)
    total_steps: int  # the budget, from the trainer's spec

    @property
    def step(self) -> int:
        """Environment steps taken so far by the envs from ``make_envs`` (summed over their envs)."""

    @property
    def progress(self) -> float:
        """``step / total_steps``, in [0, 1]: for learning-rate and clip schedules."""

    def make_envs(self, num_envs: int | None = None) -> gym.vector.VectorEnv:
        """Vector envs of the recipe's env (``env.num_envs`` of them unless given), with same-step
        autoreset (``info["final_obs"]`` holds an ended episode's last observation). Their steps count
        toward the budget, their finished episodes are logged (return_mean, length_mean), their
        state is checkpointed, and the loop closes them."""

    def record_steps(self, steps: int, episodes: list[Episode]) -> None:
        """Count ``steps`` taken and ``episodes`` finished by envs that ``make_envs`` did not make (a
        collector's workers in other processes or on other machines) toward the budget and the logged
        statistics, as if they were the loop's own envs."""

    def note(self, text: str) -> None:
        """Tell the user something about the run (on stderr)."""

    def acting_weights(self) -> dict[str, Any]:
        """The agent state (as ``agent.state_dict()``) that a collector acting with its own copy of the agent
        (asynchronous, on workers) loads before each batch: the learner's as it is now, except where
        ``gradient_estimates`` holds a behaviour policy fixed."""

    def remote_opponents(self) -> dict[str, Any] | None:
        """For envs stepped in other processes (Ray workers): the self-play pool (``env.self_play``) as its state,
        which ``pgkit.runtime.self_play.SelfPlay.load_state_dict`` gives to those envs; None without self-play.
        Asking for it tells the loop that the pool reaches envs it did not make."""


class TrainerSpec(Spec):
    """Settings every trainer has; a trainer's Spec extends it (and may change the defaults)."""

    total_steps: int = Field(100_000, ge=1, description="Environment steps to train for (summed over all envs).")
    log_every: int = Field(
        1, ge=1, description="Environment steps between logged rows: a row ends each iteration that reaches the next multiple (1: every iteration)."
    )
    log_window: int = Field(100, ge=1, description="Finished episodes averaged in the logged return_mean and length_mean.")
    eval: EvaluationSpec | None = Field(
        None, description="Evaluate during training: {every: STEPS, episodes: N, stop_at: RETURN}; logs eval_return, keeps best.pt (null: off)."
    )


class Trainer(Component):
    """Collects and learns, one ``iterate`` at a time, under the training loop.

    ``setup`` builds what ``iterate`` needs as attributes of the trainer; they are checkpointed and
    restored like a component's (see ``pgkit.kinds.state``): collectors, GradientSteps, target networks,
    replay buffers, generators, counters. Environments come from ``ctx.make_envs``. All randomness
    comes from torch's and numpy's global generators (the loop saves them) or from generators kept as
    attributes. A trainer must not install signal handlers, write checkpoints or count steps: the
    loop does. ``required_slots`` and ``optional_slots`` say which recipe slots it reads."""

    kind = "trainer"
    Spec: ClassVar[type[TrainerSpec]] = TrainerSpec
    required_slots: ClassVar[frozenset[str]]
    optional_slots: ClassVar[frozenset[str]] = frozenset()

    @abstractmethod
    def setup(self, ctx: TrainingContext) -> None:
        """Called once before the first iteration (and before a resumed run's state is restored)."""

    @abstractmethod
    def iterate(self, ctx: TrainingContext) -> dict[str, float]:
        """Collect and learn once; returns this iteration's metrics (losses, learning rate, ...).
        The loop calls it until ``ctx.step`` reaches ``total_steps``."""

    def policy_gradient(self, ctx: TrainingContext, critic_epochs: int = 0) -> tuple[torch.Tensor, int]:
        """One batch collected and prepared exactly as ``iterate`` prepares it (baselines and normalizers
        update as in training); returns the gradient of the policy objective with respect to the policy's
        parameters (ascent direction, flattened: [P]) and the number of transitions the objective averaged
        it over, without a step: the policy and critic stay as they are. With ``critic_epochs`` the critic's own regression then passes that many times over the batch,
        to fit V(s) to the fixed policy. ``pgkit.runtime.gradient_estimates`` and ``pgkit variance`` call it. Default:
        trainers without a policy gradient (evolution strategies) raise NotImplementedError."""
        raise NotImplementedError(f"{self.describe()} has no policy-gradient estimate (it learns without one)")

    def close(self) -> None:
        """Release what ``setup`` started outside this process (a collector's workers); the loop calls it
        when training ends, however it ends. The envs from ``make_envs`` are the loop's to close. Default: nothing."""

    def log_metrics(self, ctx: TrainingContext) -> dict[str, float]:
        """Metrics worth computing only for a logged row (diagnostics too costly for every iteration);
        the loop calls it just before it logs. Default: none."""
        return {}

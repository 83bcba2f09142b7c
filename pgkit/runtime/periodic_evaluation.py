"""Evaluation during training, as a callback: ``trainer.eval`` of any trainer, or ``callback: [{type:
evaluation, ...}]``. The policy's mode is evaluated on a fresh env every ``every`` steps, logged as
eval_return; the best agent is kept as best.pt; training stops at ``stop_at``."""

from __future__ import annotations

from pathlib import Path

from pgkit.kinds.agent import Agent
from pgkit.kinds.callback import Callback, CallbackRun, EvaluationSpec, Report
from pgkit.kinds.component import Spec
from pgkit.runtime.checkpoint import save_agent
from pgkit.runtime.evaluation import evaluate

BEST_FILE = "best.pt"


class PeriodicEvaluation(Callback):
    """Every ``every`` steps, the mean return of ``episodes`` episodes with the policy's mode (as `pgkit
    eval`), logged as eval_return (and eval_return_std); best.pt keeps the best agent; ``stop_at`` ends
    training when the mean reaches it (SB3's EvalCallback with StopTrainingOnRewardThreshold)."""

    name = "evaluation"
    Spec = EvaluationSpec

    def __init__(self, spec: Spec | None = None, **params: object) -> None:
        super().__init__(spec, **params)
        self.next_evaluation = self.spec.every
        self.best: float | None = None
        self._run: CallbackRun | None = None

    def metric_names(self) -> tuple[str, ...]:
        return ("eval_return", "eval_return_std", *(("eval_success_rate",) if self.spec.success_rate else ()))

    def start(self, run: CallbackRun) -> None:
        self._run = run

    def after_iteration(self, step: int, metrics: dict[str, float], agent: Agent) -> Report | None:
        if step < self.next_evaluation or self._run is None:
            return None
        self.next_evaluation = (step // self.spec.every + 1) * self.spec.every
        result = evaluate(
            agent, self._run.env, self.spec.episodes, self.spec.seed, self.spec.deterministic, max_episode_steps=self.spec.max_episode_steps
        )
        if self.best is None or result.mean > self.best:
            self.best = result.mean
            if self.spec.keep_best and self._run.run_dir is not None:
                save_agent(Path(self._run.run_dir) / BEST_FILE, agent.state_dict(), self._run.recipe, step)
        reached = self.spec.stop_at is not None and result.mean >= self.spec.stop_at
        stop = f"the mean eval return {result.mean:.2f} reached stop_at {self.spec.stop_at}" if reached else None
        metrics = {"eval_return": result.mean, "eval_return_std": result.std}
        if self.spec.success_rate:
            metrics["eval_success_rate"] = result.success_rate if result.success_rate is not None else float("nan")
        return Report(metrics, stop)

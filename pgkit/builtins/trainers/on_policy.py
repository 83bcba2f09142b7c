"""Trainer ``on_policy``: collect a batch, estimate advantages, take gradient steps, repeat."""

from __future__ import annotations

import math
import time

import torch
from pydantic import Field

from pgkit.kinds.agent import Agent
from pgkit.data.batch import Batch
from pgkit.kinds.component import Spec
from pgkit.envs.making import make_vector_env
from pgkit.runtime.gradient_step import GradientStep
from pgkit.runtime.guards import check_finite
from pgkit.plugins.hookspecs import hookimpl
from pgkit.kinds import Trainer
from pgkit.data.normalization import RewardScaler
from pgkit.runtime.rollout import RolloutCollector
from pgkit.runtime.run import Run


class OnPolicySpec(Spec):
    total_steps: int = Field(100_000, ge=1, description="Environment steps to train for (summed over all envs).")
    steps_per_env: int = Field(2048, ge=1, description="T: steps collected from each env per batch (a batch has T * num_envs steps).")
    epochs: int = Field(1, ge=1, description="Passes over each batch.")
    minibatch_size: int | None = Field(None, ge=1, description="Transitions per gradient step; null: the whole batch in one step.")
    vf_coef: float = Field(0.5, ge=0, description="Weight of the critic's loss in the total loss.")
    log_every: int = Field(1, ge=1, description="Environment steps between logged rows (rows come at batch ends; 1: every batch).")
    log_window: int = Field(100, ge=1, description="Finished episodes averaged in the logged return_mean.")


class OnPolicy(Trainer):
    """The on-policy loop: collect T steps from N envs -> critic values -> baseline -> advantages ->
    epochs of minibatch steps on objective loss + vf_coef * critic loss -> log."""

    name = "on_policy"
    Spec = OnPolicySpec
    required_slots = frozenset({"network", "policy_head", "baseline", "advantage", "objective", "optimizer"})
    optional_slots = frozenset({"critic", "logger"})

    def incompatibility(self, combo) -> str | None:
        critic = combo.get("critic")
        if critic is not None and critic.estimates != "state_value":
            return f"reads state values V(s), but critic '{critic.name}' estimates Q(s, a); use `critic: value`"
        return None

    def train(self, agent: Agent, run: Run) -> None:
        spec, slots = self.spec, agent.components
        env_settings = run.recipe.settings.env
        envs = make_vector_env(env_settings)
        normalize = env_settings.normalize
        scaler = RewardScaler(envs.num_envs, normalize.gamma, normalize.clip_reward) if normalize.reward else None
        collector = RolloutCollector(envs, agent, spec.steps_per_env, run.seed, scaler, spec.log_window)
        optimizer = GradientStep(slots["optimizer"], agent.parameters())
        shuffle = torch.Generator().manual_seed(run.seed)
        batch_size = spec.steps_per_env * envs.num_envs
        steps, elapsed_before = 0, 0.0
        if run.resume is not None:
            steps, elapsed_before = self._restore(run, agent, optimizer, collector, shuffle, envs)
        run.start(spec.total_steps)
        started, next_log = time.perf_counter() - elapsed_before, steps + spec.log_every

        def state() -> dict:
            return {
                "optimizer": optimizer.state_dict(),
                "baseline": slots["baseline"].state_dict(),
                "collector": collector.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "shuffle_rng": shuffle.get_state(),
                "elapsed": time.perf_counter() - started,
            }

        try:
            with run.interrupts_deferred():
                while steps < spec.total_steps:
                    batch = collector.collect()
                    steps += batch_size
                    progress = min(1.0, steps / spec.total_steps)
                    self._fill_values(agent, batch)
                    slots["advantage"](batch, slots["baseline"](batch))
                    slots["baseline"].update(batch)
                    lr = optimizer.set_learning_rate(progress)
                    losses = self._update(agent, batch.flatten(), optimizer, shuffle, steps, progress)
                    if steps >= next_log or steps >= spec.total_steps:
                        next_log = steps + spec.log_every
                        elapsed = time.perf_counter() - started
                        run.log(steps, {
                            **collector.episodes.metrics(),
                            **losses,
                            "explained_variance": _explained_variance(batch),
                            "learning_rate": lr,
                            "steps_per_second": steps / elapsed,
                            "time": elapsed,
                        })
                    if run.stop_requested and steps < spec.total_steps:
                        raise run.interrupted(agent, steps, state(), envs)
                    run.save_if_due(agent, steps, state, envs)
        finally:
            envs.close()
            run.close()
        run.save(agent, steps, state(), envs)

    @staticmethod
    def _restore(run: Run, agent: Agent, optimizer: GradientStep, collector: RolloutCollector, shuffle: torch.Generator, envs) -> tuple[int, float]:
        """Continue from ``run.resume``: after this the loop runs exactly as it would have uninterrupted
        (if the envs' state could be pickled; otherwise they restart from fresh resets)."""
        state = run.resume
        agent.load_state_dict(state["modules"])
        optimizer.load_state_dict(state["optimizer"])
        agent.components["baseline"].load_state_dict(state["baseline"])
        if run.restore_env_state(envs):
            collector.load_state_dict(state["collector"])
        else:
            run.note("the environments' state was not saved: they restart from fresh resets")
        torch.set_rng_state(state["torch_rng"])
        shuffle.set_state(state["shuffle_rng"])
        return int(state["step"]), float(state["elapsed"])

    @staticmethod
    def _fill_values(agent: Agent, batch: Batch) -> None:
        """V(s_t) and V(s_{t+1}) from the critic (the final observation's value where an episode ended)."""
        if agent.critic is None:
            return
        with torch.no_grad():  # one critic call for both
            values = agent.critic(torch.cat([batch.obs, batch.next_obs]).flatten(0, 1))
        batch.values, batch.next_values = values.view(2, batch.num_steps, batch.num_envs).unbind()

    def _update(self, agent: Agent, batch: Batch, optimizer: GradientStep, shuffle: torch.Generator, step: int, progress: float) -> dict[str, float]:
        """Epochs of minibatch steps; returns each metric averaged over the steps taken."""
        objective, critic = agent.components["objective"], agent.components.get("critic")
        collected: dict[str, list[float]] = {}
        for _ in range(self.spec.epochs):
            for minibatch in batch.minibatches(self.spec.minibatch_size, shuffle):
                loss, metrics = objective.loss(agent.policy, minibatch, progress, agent.critic)
                if objective.stop_early(metrics):
                    collected.setdefault("stopped_early", []).append(1.0)
                    return _means(collected)
                if critic is not None:
                    value_loss = critic.loss(agent.critic, minibatch)
                    loss = loss + self.spec.vf_coef * value_loss
                    metrics["value_loss"] = value_loss.item()
                check_finite("loss", loss.item(), step, metrics)
                optimizer.zero_grad()
                loss.backward()
                metrics["grad_norm"] = optimizer.clip()
                check_finite("gradient norm", metrics["grad_norm"], step, metrics)
                optimizer.step()
                for key, value in metrics.items():
                    collected.setdefault(key, []).append(value)
        return _means(collected)


def _means(collected: dict[str, list[float]]) -> dict[str, float]:
    return {key: sum(values) / len(values) for key, values in collected.items()}


def _explained_variance(batch: Batch) -> float:
    """1 - Var[returns - V] / Var[returns]: 1 is a perfect critic, 0 no better than a constant."""
    if batch.values is None:
        return math.nan
    variance = batch.returns.var()
    return float(1 - (batch.returns - batch.values).var() / variance) if variance > 0 else math.nan



@hookimpl
def register_trainers(register):
    register(OnPolicy)

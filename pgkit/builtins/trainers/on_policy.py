"""Trainer ``on_policy``: collect a batch, estimate advantages, take gradient steps, repeat."""

from __future__ import annotations

import copy
import dataclasses
import math
from contextlib import nullcontext
from typing import Literal

import torch
from pydantic import Field
from torch import Tensor

from pgkit import Batch, hookimpl
from pgkit.data import RewardScaler
from pgkit.kinds import Agent, Combination, LossContext, Metrics, Trainer, TrainerSpec, TrainingContext, check_shape, metric_floats
from pgkit.kinds.capabilities import (
    LAG_CORRECTION, LEARNER_LOG_PROBS, OLD_POLICY, ON_POLICY_BATCHES, OWN_POLICY_STEP, REWARD_SCALING, SEQUENCES, SINGLE_PASS, WHOLE_EPISODES,
    Capability,
)
from pgkit.nn import Precision, resolve_precision
from pgkit.runtime import AsyncCollector, GradientStep, RayCollector, RayWorkersSpec, RolloutCollector


class OnPolicySpec(TrainerSpec):
    steps_per_env: int = Field(2048, ge=1, description="T: steps collected from each env per batch (a batch has T * num_envs steps).")
    epochs: int = Field(1, ge=1, le=1000, description="Passes over each batch (of the critic alone when the objective takes its own policy step); at most 1,000.")
    minibatch_size: int | None = Field(None, ge=1, description="Transitions per gradient step; null: the whole batch in one step.")
    vf_coef: float = Field(0.5, ge=0, description="Weight of the critic's loss in the total loss.")
    complete_episodes: bool = Field(
        False,
        description="Batches of whole episodes: each env steps at least steps_per_env and then to its episode's end (its "
        "steps after that are dropped, and logged as dropped_steps), so Monte-Carlo returns are never cut at the batch's end.",
    )
    precision: Precision = Field(
        "float32",
        description="Matrix products and convolutions of the minibatch steps: float32, bfloat16 under torch.autocast (weights and "
        "optimizer stay float32), or auto: bfloat16 where the CPU (AVX512-BF16, AMX) or GPU runs it natively and the networks' largest "
        "matrix has at least 128 x 128 weights. It pays off for convolutional torsos (3x for the Nature CNN's updates on an Intel Xeon "
        "with AMX), not for small MLPs.",
    )
    compile: bool = Field(
        False, description="Compile each minibatch's loss, the objective's and the critic's, forward and backward, with torch.compile "
        "(TorchInductor; a C++ compiler on CPU), the optimizer's step staying eager. The first minibatches pay the compilation "
        "(seconds; cached on disk for later runs) and a resumed run compiles again; compiled kernels round differently from eager "
        "ones, so a compiled run matches an eager one closely, not bit for bit (it resumes bit-exactly as compiled). Where the loss "
        "reads a tensor's value in Python (.item(), a plugin's metrics as floats) the compiled graph breaks there and goes on eagerly. "
        "Speed against eager per config: docs/benchmarks.md.",
    )
    collection: Literal["sync", "async"] = Field(
        "sync", description="sync: each batch is collected by the policy that then learns from it (bit-exact resume). async: the "
        "next batch is collected while the learner trains on this one (a background thread, or the Ray workers), by the weights from "
        "before this update, so batches lag the learner by one update (logged as policy_lag); pair it with advantage vtrace, which "
        "corrects for the lag (IMPALA; with ppo_clip, whose ratio is then to the behaviour policy: APPO). A resumed async run "
        "restarts its envs from fresh resets.",
    )
    workers: RayWorkersSpec | None = Field(
        None, description="Collect on Ray actors ({type: ray, num_workers: N, address: auto}): each steps its own envs with the "
        "learner's weights, broadcast once per batch; null: the envs step in this process.",
    )


class OnPolicy(Trainer):
    """The on-policy loop: collect T steps from N envs -> critic values -> baseline -> advantages ->
    epochs of minibatch steps on objective loss + vf_coef * critic loss. Objectives may read the policy
    that collected the batch (old_policy); one that takes its own policy step (a trust region) takes it
    once per batch, and the epochs of minibatch steps then fit the critic alone."""

    name = "on_policy"
    Spec = OnPolicySpec
    required_slots = frozenset({"network", "policy_head", "baseline", "advantage", "objective", "optimizer"})
    optional_slots = frozenset({"critic", "logger"})

    @property
    def provides(self) -> frozenset[Capability]:
        optional = {SINGLE_PASS} if self.spec.epochs == 1 else set()
        whole = {WHOLE_EPISODES} if self.spec.complete_episodes else set()
        return frozenset({ON_POLICY_BATCHES, OLD_POLICY, REWARD_SCALING, SEQUENCES, LEARNER_LOG_PROBS} | optional | whole)

    def caution(self, combo: Combination) -> str | None:
        if self.spec.collection == "sync" or LAG_CORRECTION in combo.provided(besides="trainer"):
            return None
        return ("collection async: batches come from the policy one update before the learner's, and the advantage estimator does "
                "not correct for it (the gradient is then that of the behaviour policy's batch, biased for the learner's)\n"
                "    fix: set `advantage.type: vtrace`, or `trainer.collection: sync`")

    def setup(self, ctx: TrainingContext) -> None:
        agent = ctx.agent
        if self.spec.workers is not None:
            self.collector = RayCollector(self.spec.workers, ctx, self.spec.steps_per_env, self.spec.complete_episodes, self.spec.collection == "async")
        elif self.spec.collection == "async":
            self.collector = AsyncCollector(ctx, self.spec.steps_per_env, self.spec.complete_episodes)
        else:
            envs = ctx.make_envs()
            normalize = ctx.env.normalize
            scaler = RewardScaler(envs.num_envs, normalize.gamma, normalize.clip_reward) if normalize.reward else None
            self.collector = RolloutCollector(envs, agent, self.spec.steps_per_env, ctx.seed, scaler, self.spec.complete_episodes)
        objective = agent.components["objective"]
        wants_old_policy = OLD_POLICY in objective.requires  # a copy refreshed every batch costs ~5% of A2C
        self._old_policy = copy.deepcopy(agent.policy).requires_grad_(False) if wants_old_policy else None
        self._policy_steps_itself = OWN_POLICY_STEP in objective.provides
        self._reads_learner_log_probs = LEARNER_LOG_PROBS in agent.components["advantage"].requires
        if self._policy_steps_itself:  # the recipe's optimizer fits the critic only (not a torso it shares)
            policy_parameters = set(agent.policy.parameters())
            trained = [p for p in agent.parameters() if p not in policy_parameters]
        else:
            trained = agent.parameters()
        self.optimizer = GradientStep(agent.components["optimizer"], trained) if trained else None  # None: a trust region without critic
        self.shuffle = torch.Generator().manual_seed(ctx.seed)
        self._precision = resolve_precision(self.spec.precision, ctx.device, ctx.agent.modules().values())
        if self.spec.precision == "auto":
            ctx.note(f"precision auto: {self._precision} for the minibatch steps on {ctx.device.type}")
        self._minibatch_loss = torch.compile(self._loss) if self.spec.compile else self._loss
        self._last_batch: Batch | None = None  # for log_metrics; rebuilt by the next iteration after a resume
        self._critic_step: GradientStep | None = None  # made by policy_gradient(critic_epochs > 0), never in training

    def iterate(self, ctx: TrainingContext) -> dict[str, float]:
        objective = ctx.agent.components["objective"]
        batch, context = self._next_batch(ctx)
        lr = self.optimizer.set_learning_rate(ctx.progress) if self.optimizer is not None else 0.0
        flat = batch.flatten()
        if self._policy_steps_itself:
            with ctx.agent.sequences_of(flat):
                metrics = objective.step(flat, context)
            metrics.update(self._fit_critic(ctx, flat, self.optimizer))
        else:
            metrics = self._update(ctx, flat, context)
        with ctx.agent.sequences_of(flat):
            metrics.update(objective.end_batch(flat, context))
        self._last_batch = batch
        return {**metrics, **self.collector.metrics(), "learning_rate": lr}

    def close(self) -> None:
        collector = getattr(self, "collector", None)  # None: setup failed before making it
        if collector is not None:
            collector.close()

    def policy_gradient(self, ctx: TrainingContext, critic_epochs: int = 0) -> tuple[Tensor, int]:
        policy = ctx.agent.policy
        batch, context = self._next_batch(ctx)
        flat = batch.flatten()
        with ctx.agent.sequences_of(flat):
            loss, _ = ctx.agent.components["objective"].loss(flat, context)
        parameters = [p for p in policy.parameters() if p.requires_grad]
        gradient = torch.cat([g.reshape(-1) for g in torch.autograd.grad(-loss, parameters, allow_unused=False)])
        if critic_epochs > 0 and ctx.agent.critic is not None:
            if self._critic_step is None:
                in_policy = set(policy.parameters())
                self._critic_step = GradientStep(ctx.agent.components["optimizer"], [p for p in ctx.agent.critic.parameters() if p not in in_policy])
            self._fit_critic(ctx, flat, self._critic_step, critic_epochs)
        return gradient, flat.rewards.shape[0]

    def _next_batch(self, ctx: TrainingContext) -> tuple[Batch, LossContext]:
        """A fresh batch with values, baseline and advantages filled in (the baseline then updated), and the
        LossContext for it (the old policy refreshed to the policy that collected it)."""
        agent, slots = ctx.agent, ctx.agent.components
        batch = self.collector.collect()
        self._fill_values(ctx, batch)
        if self._reads_learner_log_probs:
            self._fill_learner_log_probs(ctx, batch)
        baseline = slots["baseline"](batch)
        check_shape(slots["baseline"], "b(s)", baseline, batch.rewards.shape, "[T, N], like batch.rewards")
        slots["advantage"](batch, baseline)
        slots["baseline"].update(batch)
        if self._old_policy is not None:
            self._old_policy.load_state_dict(agent.policy.state_dict())
        return batch, LossContext(agent.policy, ctx.progress, agent.critic, self._old_policy)

    def log_metrics(self, ctx: TrainingContext) -> dict[str, float]:
        batch = self._last_batch
        if batch is None:
            return {}
        lagged = {"behaviour_kl": float((batch.log_probs - batch.learner_log_probs).mean())} if batch.learner_log_probs is not None else {}
        return {"explained_variance": _explained_variance(batch), **lagged}

    @staticmethod
    def _fill_values(ctx: TrainingContext, batch: Batch) -> None:
        """V(s_t), unless the collector gave it with the actions (one critic pass over the batch), and V(s_{t+1}):
        the next row's V(s) where the episode went on (s_{t+1} is that row's observation); the critic's value
        of next_obs where it ended (the final observation) and at the batch's last step."""
        critic = ctx.agent.critic
        if critic is None:
            return
        ended = batch.terminated | batch.truncated
        ended[-1] = True
        if batch.values is None:  # one call for V(s_t) and the V(s_{t+1}) that are not the next row's
            rows = batch.num_steps * batch.num_envs
            with torch.no_grad():
                values = critic(torch.cat([batch.obs.flatten(0, 1), batch.next_obs[ended]]))
            check_shape(ctx.agent.components["critic"], "V(s)", values, (rows + int(ended.sum()),), "[B]: one value per observation")
            batch.values = values[:rows].view(batch.num_steps, batch.num_envs)
            batch.next_values = batch.values.roll(-1, dims=0)
            batch.next_values[ended] = values[rows:]
            return
        batch.next_values = batch.values.roll(-1, dims=0)
        agent = ctx.agent
        continuing = agent.sequences(batch.next_memory[ended], ended.new_zeros(1, int(ended.sum()))) if agent.memory_size else nullcontext()
        with torch.no_grad(), continuing:  # a recurrent critic reads next_obs from the state after step t
            batch.next_values[ended] = critic(batch.next_obs[ended])

    @staticmethod
    def _fill_learner_log_probs(ctx: TrainingContext, batch: Batch) -> None:
        """log pi(a_t|s_t) under the learner's policy now (the behaviour's, batch.log_probs, where collection does not lag)."""
        flat = batch.flatten() if batch.alive is None else dataclasses.replace(batch, alive=None).flatten()  # every row, in [T, N] order
        with torch.no_grad(), ctx.agent.sequences_of(flat):
            log_probs = ctx.agent.policy(flat.obs).log_prob(flat.actions)
        batch.learner_log_probs = log_probs.view(batch.num_steps, batch.num_envs)

    def _update(self, ctx: TrainingContext, batch: Batch, context: LossContext) -> dict[str, float]:
        """Epochs of minibatch steps; returns each metric averaged over the steps taken."""
        objective = ctx.agent.components["objective"]
        collected: dict[str, list[float]] = {}
        for _ in range(self.spec.epochs):
            for minibatch in batch.minibatches(self.spec.minibatch_size, self.shuffle):
                with torch.autocast(ctx.device.type, torch.bfloat16, enabled=self._precision == "bfloat16"), ctx.agent.torso_once(), ctx.agent.sequences_of(minibatch):
                    loss, metrics = self._minibatch_loss(ctx.agent, minibatch, context.progress, context.old_policy)
                metrics = metric_floats(metrics)
                if objective.stop_early(metrics):
                    collected.setdefault("stopped_early", []).append(1.0)
                    return _means(collected)
                metrics["grad_norm"] = self.optimizer.minimize(loss, "loss", metrics)
                for key, value in metrics.items():
                    collected.setdefault(key, []).append(value)
        return _means(collected)

    def _loss(self, agent: Agent, minibatch: Batch, progress: float, old_policy: torch.nn.Module | None) -> tuple[Tensor, Metrics]:
        """The objective's loss + vf_coef * the critic's on one minibatch, and their metrics (what ``trainer.compile``
        compiles: progress comes as an argument, so a new value is an input of the graph, not a new graph)."""
        objective, critic = agent.components["objective"], agent.components.get("critic")
        loss, metrics = objective.loss(minibatch, LossContext(agent.policy, progress, agent.critic, old_policy))
        check_shape(objective, "loss", loss, (), "a scalar")
        if critic is None:
            return loss, metrics
        value_loss = critic.loss(agent.critic, minibatch)
        return loss + self.spec.vf_coef * value_loss, {**metrics, "value_loss": value_loss.detach()}

    def _fit_critic(self, ctx: TrainingContext, batch: Batch, step: GradientStep, epochs: int | None = None) -> dict[str, float]:
        """Epochs (the spec's unless given) of minibatch regression steps of the critic alone, by ``step``
        (after the objective's own policy step, or to fit V(s) to a fixed policy before measuring its gradient)."""
        critic = ctx.agent.components.get("critic")
        if critic is None:
            return {}
        losses = []
        for _ in range(self.spec.epochs if epochs is None else epochs):
            for minibatch in batch.minibatches(self.spec.minibatch_size, self.shuffle):
                with ctx.agent.sequences_of(minibatch):
                    value_loss = critic.loss(ctx.agent.critic, minibatch)
                step.minimize(value_loss, "critic loss")
                losses.append(value_loss.item())
        return {"value_loss": sum(losses) / len(losses)}


def _means(collected: dict[str, list[float]]) -> dict[str, float]:
    return {key: sum(values) / len(values) for key, values in collected.items()}


def _explained_variance(batch: Batch) -> float:
    """1 - Var[returns - V] / Var[returns]: 1 is a perfect critic, 0 no better than a constant (NaN
    when the returns do not vary)."""
    if batch.values is None:
        return math.nan
    returns, values = (batch.returns, batch.values) if batch.alive is None else (batch.returns[batch.alive], batch.values[batch.alive])
    explained = float(1 - (returns - values).var() / returns.var())
    return explained if math.isfinite(explained) else math.nan


@hookimpl
def register_trainers(register):
    register(OnPolicy)

"""Trainer ``off_policy``: act with exploration noise, store transitions, learn from replayed minibatches."""

from __future__ import annotations

import copy
from contextlib import nullcontext

import numpy as np
import torch
from pydantic import Field, model_validator
from torch import Tensor

from pgkit import Batch, hookimpl
from pgkit.data import GoalLayout
from pgkit.envs import GoalRewards
from pgkit.functional import polyak_update
from pgkit.kinds import Agent, LossContext, Metrics, Objective, ReplayLayout, Trainer, TrainerSpec, TrainingContext, check_shape, metric_floats
from pgkit.kinds.capabilities import (
    ACTION_VALUE, GOAL_OBSERVATIONS, OFF_POLICY_ACTIONS, REPLAYED_TRANSITIONS, SEQUENCES, SQUASHED_ACTIONS, TD_ERRORS,
)
from pgkit.nn import Precision, resolve_precision
from pgkit.runtime import Explorer, GradientStep, RayExplorer, RayWorkersSpec, replay_sequences


class OffPolicySpec(TrainerSpec):
    total_steps: int = Field(20_000, ge=1, description="Environment steps to train for (summed over all envs).")
    log_every: int = Field(1000, ge=1, description="Environment steps between logged rows.")
    buffer_size: int = Field(1_000_000, ge=1, description="Replay capacity in transitions (the replay slot says how they are drawn); the oldest are overwritten.")
    learning_starts: int = Field(100, ge=0, description="Steps of uniformly random actions before learning begins.")
    train_freq: int = Field(1, ge=1, description="Vector-env steps between training rounds.")
    gradient_steps: int = Field(1, ge=1, le=100_000, description="Critic updates per training round; at most 100,000.")
    batch_size: int = Field(256, ge=1, description="Transitions per replayed minibatch.")
    gamma: float = Field(0.99, ge=0, le=1, description="Discount factor gamma of the TD target.")
    tau: float = Field(0.005, gt=0, le=1, description="Polyak rate: target <- (1 - tau) target + tau online.")
    policy_delay: int = Field(1, ge=1, description="Critic updates per policy and target update (TD3: 2).")
    target_policy: bool = Field(
        True, description="Next actions of the TD target from a slowly moving copy of the policy (DDPG, TD3), or from the policy itself (false: SAC)."
    )
    target_policy_noise: float = Field(0.0, ge=0, description="Std of the noise added to the next action a' in the target (TD3's smoothing: 0.2); in [-1, 1] action units.")
    target_noise_clip: float = Field(0.5, ge=0, description="The target smoothing noise is clipped to [-c, c].")
    precision: Precision = Field(
        "auto",
        description="Matrix products of the updates: bfloat16 under torch.autocast (weights and optimizers stay float32), float32, or auto: bfloat16 where the CPU (AVX512-BF16, AMX) or GPU runs it natively and the networks' largest matrix has at least 128 x 128 weights (smaller ones run faster in float32).",
    )
    compile: bool = Field(
        False, description="Compile each update's two losses with torch.compile (TorchInductor; a C++ compiler on CPU): the TD target "
        "with the critic's loss, and the objective's policy loss, forward and backward, the optimizers' steps staying eager; random "
        "draws stay torch's own (fallback_random), so a compiled run matches an eager one to rounding and resumes bit-exactly as "
        "compiled. The first updates pay the compilation (seconds; cached on disk). Not with lstm/gru networks (their replayed "
        "windows change shape). Speed against eager: docs/benchmarks.md.",
    )
    workers: RayWorkersSpec | None = Field(
        None, description="Act on Ray actors ({type: ray, num_workers: N, address: auto}): each steps its own envs train_freq times per "
        "training round with the learner's latest policy, broadcast once per round; null: the envs step in this process.",
    )
    sequence_length: int = Field(
        16, ge=1, description="A recurrent network (lstm, gru) learns from replayed windows of an env's consecutive steps: the steps per "
        "window that the losses read (batch_size // sequence_length windows per minibatch). Unused by other networks."
    )
    burn_in: int = Field(
        8, ge=0, description="Steps before each replayed window that only warm its recurrences up from the memory stored with the "
        "window's first step (R2D2's burn-in; the losses skip them). Unused by networks without memory."
    )

    @model_validator(mode="after")
    def _buffer_holds_a_batch(self) -> OffPolicySpec:
        if self.buffer_size < self.batch_size:
            raise ValueError(f"buffer_size ({self.buffer_size}) must be at least batch_size ({self.batch_size})")
        return self


class OffPolicy(Trainer):
    """Off-policy actor-critic loop (DDPG, TD3, SAC): act a ~ pi(.|s) + the head's exploration noise, store
    (s, a, r, s', terminated, truncated) in the replay, regress Q on y = R + d (1 - terminated) [min_k Q'_k(s', a')
    + bonus] for replayed transitions (R = r and d = gamma, or the replay's n-step R and d = gamma^k), a' ~
    pi'(.|s') (plus TD3's clipped smoothing noise), bonus from the objective (SAC: -alpha log pi(a'|s')), and
    give the replay the TD errors when it prioritizes by them; every ``policy_delay`` critic steps take a
    policy step on the objective and move the target networks by Polyak averaging. A recurrent agent acts
    with its memory carried and learns from replayed windows of burn_in + sequence_length steps, re-run from
    the memory stored with their first step (R2D2, Kapturowski et al. 2019; ``pgkit.runtime.replay_sequences``)."""

    name = "off_policy"
    Spec = OffPolicySpec
    required_slots = frozenset({"network", "policy_head", "critic", "objective", "optimizer", "replay"})
    optional_slots = frozenset({"logger"})
    provides = frozenset({REPLAYED_TRANSITIONS})
    requires = frozenset({ACTION_VALUE, OFF_POLICY_ACTIONS})

    def incompatibility(self, combo) -> str | None:
        network = combo.get("network")
        if network is not None and SEQUENCES in network.requires and self.spec.workers is not None:
            return (f"network '{network.name}' carries a memory from step to step, which the Ray workers do not keep; "
                    "set trainer.workers: null")
        if network is not None and SEQUENCES in network.requires and self.spec.compile:
            return (f"network '{network.name}' learns from replayed windows whose burn-in and time-limit columns change the graph "
                    "from minibatch to minibatch, which trainer.compile does not capture; set trainer.compile: false")
        head = combo.get("policy_head")
        if self.spec.target_policy_noise > 0 and head is not None and SQUASHED_ACTIONS not in head.provides:
            return (f"target_policy_noise ({self.spec.target_policy_noise}) smooths squashed Box actions (TD3), but policy_head "
                    f"'{getattr(head, 'name', head)}' gives none; set trainer.target_policy_noise: 0")
        return None

    def setup(self, ctx: TrainingContext) -> None:
        spec, agent = self.spec, ctx.agent
        if spec.workers is not None:
            self.explorer = RayExplorer(spec.workers, ctx)
        else:
            self.explorer = Explorer(ctx.make_envs(), agent, ctx.seed)
        self.action_width = int(np.prod(agent.action_space.shape))
        replay, goals = agent.components["replay"], None
        if GOAL_OBSERVATIONS in replay.requires:  # a replay that relabels goals gets the env's own reward of any goal
            self._goal_rewards = GoalRewards(ctx.env)
            goals = GoalLayout.of(agent.observation_space, self._goal_rewards)
        replay.allocate(ReplayLayout(
            spec.buffer_size, agent.obs_shape, agent.obs_dtype, (self.action_width,), agent.device, self.explorer.num_envs, spec.gamma, goals,
            agent.memory_size,
        ))
        self.sampler = torch.Generator().manual_seed(ctx.seed)
        self.targets = Targets(agent, spec.target_policy)
        self._critic_parameters = [p for p in agent.critic.parameters() if p.requires_grad]  # switched off for each policy step
        own = list(agent.objective_module.parameters()) if agent.objective_module is not None else []
        self.policy_step = GradientStep(agent.components["optimizer"], [*agent.policy.parameters(), *own])
        self.critic_step = GradientStep(agent.components["optimizer"], agent.critic.parameters())
        self._check_critic(agent)
        self._precision = resolve_precision(spec.precision, ctx.device, agent.modules().values())
        if spec.precision == "auto":
            ctx.note(f"precision auto: {self._precision} for the updates' matrix products on {ctx.device.type}")
        self.rounds, self.critic_updates = 0, 0
        window = spec.burn_in + spec.sequence_length  # a recurrent agent's windows need that many rows stored
        self._needed = max(spec.batch_size, window * self.explorer.num_envs) if agent.memory_size else spec.batch_size
        self.latest: dict[str, float] = {}  # the last value of each loss, logged with every row
        compiled = (lambda loss: torch.compile(loss, options={"fallback_random": True})) if spec.compile else (lambda loss: loss)
        self._critic_loss, self._policy_loss = compiled(self._target_and_critic_loss), compiled(self._policy_loss_of)

    def iterate(self, ctx: TrainingContext) -> dict[str, float]:
        spec, replay = self.spec, ctx.agent.components["replay"]
        steps = spec.train_freq if spec.workers is not None else 1  # workers step a training round's steps per call
        for transitions in self.explorer.explore(steps, random=ctx.step < spec.learning_starts):
            replay.add(*transitions)
        self.rounds += steps
        if ctx.step >= spec.learning_starts and len(replay) >= self._needed and self.rounds % spec.train_freq == 0:
            with torch.autocast(ctx.device.type, torch.bfloat16, enabled=self._precision == "bfloat16"):
                for _ in range(spec.gradient_steps):
                    self._learn(ctx)
        return {**self.latest, **self.explorer.metrics(), "buffer_size": float(len(replay))}

    def close(self) -> None:
        explorer = getattr(self, "explorer", None)  # None: setup failed before making it
        if explorer is not None:
            explorer.close()
        goal_rewards = getattr(self, "_goal_rewards", None)
        if goal_rewards is not None:
            goal_rewards.close()

    def _check_critic(self, agent: Agent) -> None:
        """Q(s, a) of one observation is [K, 1] (K networks), as the action-value critic contract says."""
        one_step = torch.zeros(1, 1, dtype=torch.bool, device=agent.device)
        with torch.no_grad(), agent.sequences(agent.initial_memory(1), one_step):
            obs = torch.zeros((1, *agent.obs_shape), dtype=agent.obs_dtype, device=agent.device)
            q = agent.critic(obs, torch.zeros(1, self.action_width, device=agent.device))
        check_shape(agent.components["critic"], "Q(s, a)", q, (len(q), 1), "[K, B]: each of its K networks' value of every transition")

    def _learn(self, ctx: TrainingContext) -> None:
        """One critic step on a replayed minibatch; every ``policy_delay``-th also a policy step and a target update."""
        agent, slots, spec = ctx.agent, ctx.agent.components, self.spec
        self.critic_updates += 1
        next_policy = self.targets.policy if self.targets.policy is not None else agent.policy
        if agent.memory_size:
            sequences = replay_sequences(
                slots["replay"], (agent.policy, agent.critic), (next_policy, self.targets.critic), max(1, spec.batch_size // spec.sequence_length),
                spec.burn_in, spec.sequence_length, self.sampler, ctx.progress,
            )
            batch, online = sequences.batch, sequences.online
            with sequences.target():
                next_values = self.next_values(next_policy, self.targets.critic, slots["objective"], sequences.next_obs)[sequences.next_rows]
            batch.returns = self.bootstrap(batch, next_values)
            with online():  # the critic reads the batch as a recurrent agent's windows where it has memory
                value_loss = self._critic_loss_on(agent, batch)
        else:
            batch, online = slots["replay"].sample(spec.batch_size, self.sampler, ctx.progress), nullcontext
            batch.returns, value_loss = self._critic_loss(agent, batch, next_policy)
        self.critic_step.minimize(value_loss, "critic loss")
        self.latest["value_loss"] = value_loss.item()
        if self.critic_updates % spec.policy_delay:
            return
        self._critic_requires_grad(False)  # grad_a Q is needed, the critic's own gradients are not
        try:
            with online():
                loss, metrics = self._policy_loss(agent, batch, ctx.progress)
            metrics = metric_floats(metrics)
            self.policy_step.minimize(loss, "policy loss", metrics)
        finally:
            self._critic_requires_grad(True)
        self.targets.follow(spec.tau)
        self.latest.update(metrics)

    def _target_and_critic_loss(self, agent: Agent, batch: Batch, next_policy: torch.nn.Module) -> tuple[Tensor, Tensor]:
        """The TD target y of a replayed minibatch and the critic's loss on it, (y, loss) (what ``trainer.compile`` compiles)."""
        batch.returns = self.td_target(next_policy, self.targets.critic, agent.components["objective"], batch)
        return batch.returns, self._critic_loss_on(agent, batch)

    @staticmethod
    def _critic_loss_on(agent: Agent, batch: Batch) -> Tensor:
        """The critic's loss on a minibatch whose ``returns`` hold y, the replay given the TD errors first where it prioritizes by them."""
        slots = agent.components
        if TD_ERRORS in slots["replay"].requires:
            slots["replay"].update_priorities(batch, slots["critic"].td_errors(agent.critic, batch))
        return slots["critic"].loss(agent.critic, batch)

    def _policy_loss_of(self, agent: Agent, batch: Batch, progress: float) -> tuple[Tensor, Metrics]:
        """The objective's policy loss on a replayed minibatch and its metrics (what ``trainer.compile`` compiles)."""
        return agent.components["objective"].loss(batch, LossContext(agent.policy, progress, agent.critic))

    def _critic_requires_grad(self, flag: bool) -> None:
        for parameter in self._critic_parameters:  # module.requires_grad_ walks the module tree each time
            parameter.requires_grad_(flag)

    @torch.no_grad()
    def td_target(self, next_policy: torch.nn.Module, critic: torch.nn.Module, objective: Objective, batch: Batch) -> torch.Tensor:
        """y = R + d (1 - terminated) [min_k Q'_k(s', a') + bonus(a')], a' = clip(a + clip(eps, -c, c), -1, 1) with
        a ~ next_policy(.|s') (TD3's smoothing eps ~ N(0, sigma^2), sigma = 0 by default) and the objective's bonus;
        d is the batch's discounts (gamma^k of an n-step return), gamma where it has none. An objective that
        computes V(s') itself (``Objective.next_value``, discrete SAC's expectation over actions) replaces
        the bracket."""
        return self.bootstrap(batch, self.next_values(next_policy, critic, objective, batch.next_obs))

    def bootstrap(self, batch: Batch, next_values: torch.Tensor) -> torch.Tensor:
        """y = R + d (1 - terminated) V(s'), d the batch's discounts (gamma where it has none)."""
        discounts = batch.discounts if batch.discounts is not None else self.spec.gamma
        return batch.rewards + discounts * (~batch.terminated).float() * next_values

    @torch.no_grad()
    def next_values(self, next_policy: torch.nn.Module, critic: torch.nn.Module, objective: Objective, next_obs: torch.Tensor) -> torch.Tensor:
        """V(s') = min_k Q'_k(s', a') + bonus(a') of each row of ``next_obs`` (the objective's own V(s') where it has one)."""
        spec = self.spec
        distribution = next_policy(next_obs)
        exact = objective.next_value(distribution, critic, next_obs)
        if exact is not None:
            return exact.float()
        next_actions = distribution.sample()
        if spec.target_policy_noise > 0:
            smoothing = (torch.randn_like(next_actions) * spec.target_policy_noise).clamp(-spec.target_noise_clip, spec.target_noise_clip)
            next_actions = (next_actions + smoothing).clamp(-1.0, 1.0)
        return critic(next_obs, next_actions).min(dim=0).values.float() + objective.next_value_bonus(distribution, next_actions)


class Targets:
    """Slowly moving copies of the agent's critic and (``with_policy``) policy that the TD target is computed from."""

    def __init__(self, agent: Agent, with_policy: bool):
        self.policy = copy.deepcopy(agent.policy).requires_grad_(False) if with_policy else None
        self.critic = copy.deepcopy(agent.critic).requires_grad_(False)
        pairs = [(self.critic, agent.critic), *([(self.policy, agent.policy)] if with_policy else [])]
        self._targets = [t for target, _ in pairs for t in target.parameters()]  # the same Parameter objects for the whole run
        self._sources = [s for _, source in pairs for s in source.parameters()]

    def state_dict(self) -> dict:
        return {"critic": self.critic.state_dict(), **({"policy": self.policy.state_dict()} if self.policy is not None else {})}

    def load_state_dict(self, state: dict) -> None:
        self.critic.load_state_dict(state["critic"])
        if self.policy is not None:
            self.policy.load_state_dict(state["policy"])

    def follow(self, tau: float) -> None:
        polyak_update(self._targets, self._sources, tau)


@hookimpl
def register_trainers(register):
    register(OffPolicy)

"""Trainer ``off_policy``: act with exploration noise, store transitions, learn from replayed minibatches."""

from __future__ import annotations

import copy
import time
from typing import Literal

import numpy as np
import torch
from pydantic import Field, model_validator

from pgkit.kinds.agent import Agent
from pgkit.data.batch import Batch
from pgkit.kinds.component import Spec
from pgkit.envs.making import make_vector_env, with_final_observations
from pgkit.data.episodes import EpisodeTracker
from pgkit.runtime.gradient_step import GradientStep
from pgkit.runtime.guards import check_finite
from pgkit.functional import polyak_update
from pgkit.plugins.hookspecs import hookimpl
from pgkit.kinds import Trainer
from pgkit.data.replay import ReplayBuffer
from pgkit.runtime.run import Run


class OffPolicySpec(Spec):
    total_steps: int = Field(20_000, ge=1, description="Environment steps to train for (summed over all envs).")
    buffer_size: int = Field(1_000_000, ge=1, description="Replay capacity in transitions; the oldest are overwritten.")
    learning_starts: int = Field(100, ge=0, description="Steps of uniformly random actions before learning begins.")
    train_freq: int = Field(1, ge=1, description="Vector-env steps between training rounds.")
    gradient_steps: int = Field(1, ge=1, description="Critic updates per training round.")
    batch_size: int = Field(256, ge=1, description="Transitions per replayed minibatch.")
    gamma: float = Field(0.99, ge=0, le=1, description="Discount factor gamma of the TD target.")
    tau: float = Field(0.005, gt=0, le=1, description="Polyak rate: target <- (1 - tau) target + tau online.")
    policy_delay: int = Field(1, ge=1, description="Critic updates per policy and target update (TD3: 2).")
    target_policy_noise: float = Field(0.0, ge=0, description="Std of the noise added to mu'(s') in the target (TD3's smoothing: 0.2); in [-1, 1] action units.")
    target_noise_clip: float = Field(0.5, ge=0, description="The target smoothing noise is clipped to [-c, c].")
    precision: Literal["float32", "bfloat16"] = Field(
        "float32", description="bfloat16: matrix products of the updates in bfloat16 under torch.autocast (weights and optimizers stay float32); much faster on CPUs with AVX512-BF16 or AMX."
    )
    log_every: int = Field(1000, ge=1, description="Environment steps between logged rows.")
    log_window: int = Field(100, ge=1, description="Finished episodes averaged in the logged return_mean.")

    @model_validator(mode="after")
    def _buffer_holds_a_batch(self) -> OffPolicySpec:
        if self.buffer_size < self.batch_size:
            raise ValueError(f"buffer_size ({self.buffer_size}) must be at least batch_size ({self.batch_size})")
        return self


class OffPolicy(Trainer):
    """DDPG / TD3 loop (Lillicrap et al. 2016; Fujimoto et al. 2018): act mu(s) + noise, store (s, a, r, s', terminated),
    regress Q on y = r + gamma (1 - terminated) min_k Q'_k(s', clip(mu'(s') + eps)), every ``policy_delay`` critic
    steps take a policy step and move the target networks by Polyak averaging. The replay buffer is not checkpointed."""

    name = "off_policy"
    Spec = OffPolicySpec
    required_slots = frozenset({"network", "policy_head", "critic", "objective", "optimizer"})
    optional_slots = frozenset({"logger"})
    off_policy = True

    def incompatibility(self, combo) -> str | None:
        head, critic = combo.get("policy_head"), combo.get("critic")
        if head is not None and not head.deterministic:
            return f"acts with a deterministic policy plus noise, but policy_head '{head.name}' is stochastic; use `policy_head: deterministic`"
        if critic is not None and critic.estimates != "action_value":
            return f"learns Q(s, a), but critic '{critic.name}' estimates V(s); use `critic: q` or `critic: twin_q`"
        return None

    def train(self, agent: Agent, run: Run) -> None:
        spec, slots = self.spec, agent.components
        envs = make_vector_env(run.recipe.settings.env)
        num_envs, action_shape = envs.num_envs, agent.action_space.shape
        rng = np.random.default_rng(run.seed)
        noise = slots["policy_head"].exploration_noise(num_envs, action_shape, rng)
        replay = ReplayBuffer(spec.buffer_size, agent.observation_space.shape, agent.obs_dtype, (int(np.prod(action_shape)),), agent.device)
        sampler = torch.Generator().manual_seed(run.seed)
        targets = Targets(copy.deepcopy(agent.policy), copy.deepcopy(agent.critic))
        policy_optimizer = GradientStep(slots["optimizer"], agent.policy.parameters())
        critic_optimizer = GradientStep(slots["optimizer"], agent.critic.parameters())
        episodes = EpisodeTracker(num_envs, spec.log_window)
        obs = agent.prepare(envs.reset(seed=run.seed)[0], update_statistics=True)
        steps, rounds, critic_updates, elapsed_before = 0, 0, 0, 0.0
        if run.resume is not None:
            state = run.resume
            agent.load_state_dict(state["modules"])
            targets.load_state_dict(state["targets"])
            policy_optimizer.load_state_dict(state["policy_optimizer"])
            critic_optimizer.load_state_dict(state["critic_optimizer"])
            rng.bit_generator.state = state["numpy_rng"]
            torch.set_rng_state(state["torch_rng"])
            sampler.set_state(state["sampler_rng"])
            steps, rounds, critic_updates, elapsed_before = state["step"], state["rounds"], state["critic_updates"], state["elapsed"]
            run.note(f"the replay buffer is not saved in checkpoints: it refills from step {steps:,}, and learning resumes once it holds {spec.batch_size} transitions")
        run.start(spec.total_steps)
        started, next_log = time.perf_counter() - elapsed_before, steps + spec.log_every
        metrics: dict[str, float] = {}
        autocast_device, bfloat16 = torch.device(run.device).type, spec.precision == "bfloat16"

        def state() -> dict:
            return {
                "policy_optimizer": policy_optimizer.state_dict(),
                "critic_optimizer": critic_optimizer.state_dict(),
                "targets": targets.state_dict(),
                "numpy_rng": rng.bit_generator.state,
                "torch_rng": torch.get_rng_state(),
                "sampler_rng": sampler.get_state(),
                "rounds": rounds,
                "critic_updates": critic_updates,
                "elapsed": time.perf_counter() - started,
            }

        try:
            with run.interrupts_deferred():
                while steps < spec.total_steps:
                    actions = self._act(agent, obs, noise, rng, steps < spec.learning_starts)
                    raw, reward, terminated, truncated, info = envs.step(agent.policy.head.env_action(actions).cpu().numpy())
                    done = terminated | truncated
                    next_obs = agent.prepare(raw, update_statistics=True)
                    replay.add(*self._tensors(agent, obs, actions, reward, with_final_observations(next_obs, info, agent.prepare), terminated))
                    noise.reset(done)
                    episodes.step(reward, done)
                    obs, steps, rounds = next_obs, steps + num_envs, rounds + 1
                    if steps >= spec.learning_starts and len(replay) >= spec.batch_size and rounds % spec.train_freq == 0:
                        for _ in range(spec.gradient_steps):
                            critic_updates += 1
                            batch = replay.sample(spec.batch_size, sampler)
                            with torch.autocast(autocast_device, torch.bfloat16, enabled=bfloat16):
                                metrics.update(self._update_critic(agent, targets, batch, critic_optimizer, steps))
                                if critic_updates % spec.policy_delay == 0:
                                    metrics.update(self._update_policy(agent, targets, batch, policy_optimizer, steps))
                    if steps >= next_log or steps >= spec.total_steps:
                        next_log += spec.log_every
                        elapsed = time.perf_counter() - started
                        run.log(steps, {**episodes.metrics(), **metrics, "buffer_size": float(len(replay)), "steps_per_second": steps / elapsed, "time": elapsed})
                        run.save_if_due(agent, steps, state)
                    if run.stop_requested and steps < spec.total_steps:
                        raise run.interrupted(agent, steps, state())
        finally:
            envs.close()
            run.close()
        run.save(agent, steps, state())

    @staticmethod
    def _act(agent: Agent, obs: np.ndarray, noise, rng: np.random.Generator, random: bool) -> torch.Tensor:
        """Actions in the policy's [-1, 1] units: uniform while warming up, else clip(mu(s) + noise)."""
        if random:
            sampled = rng.uniform(-1.0, 1.0, noise.sample().shape).astype(np.float32)
            return torch.as_tensor(sampled, device=agent.device)
        with torch.no_grad():
            mu = agent.policy(torch.as_tensor(obs, dtype=agent.obs_dtype, device=agent.device)).mode
        return (mu + torch.as_tensor(noise.sample(), device=agent.device)).clamp(-1.0, 1.0)

    @staticmethod
    def _tensors(agent: Agent, obs, actions, reward, next_obs, terminated) -> tuple[torch.Tensor, ...]:
        device, dtype = agent.device, agent.obs_dtype
        return (
            torch.as_tensor(obs, dtype=dtype, device=device),
            actions,
            torch.as_tensor(reward, dtype=torch.float32, device=device),
            torch.as_tensor(next_obs, dtype=dtype, device=device),
            torch.as_tensor(terminated, device=device),
        )

    @torch.no_grad()
    def td_target(self, targets: "Targets", batch: Batch) -> torch.Tensor:
        """y = r + gamma (1 - terminated) min_k Q'_k(s', clip(mu'(s') + clip(eps, -c, c), -1, 1)), eps ~ N(0, sigma^2)."""
        spec = self.spec
        next_actions = targets.policy(batch.next_obs).mode
        if spec.target_policy_noise > 0:
            smoothing = (torch.randn_like(next_actions) * spec.target_policy_noise).clamp(-spec.target_noise_clip, spec.target_noise_clip)
            next_actions = (next_actions + smoothing).clamp(-1.0, 1.0)
        next_q = targets.critic(batch.next_obs, next_actions).min(dim=0).values
        return batch.rewards + spec.gamma * (~batch.terminated).float() * next_q.float()

    def _update_critic(self, agent: Agent, targets: "Targets", batch: Batch, optimizer: GradientStep, step: int) -> dict[str, float]:
        batch.returns = self.td_target(targets, batch)
        loss = agent.components["critic"].loss(agent.critic, batch)
        check_finite("critic loss", loss.item(), step)
        optimizer.zero_grad()
        loss.backward()
        check_finite("critic gradient norm", optimizer.clip(), step)
        optimizer.step()
        return {"value_loss": loss.item()}

    def _update_policy(self, agent: Agent, targets: "Targets", batch: Batch, optimizer: GradientStep, step: int) -> dict[str, float]:
        agent.critic.requires_grad_(False)  # grad_a Q is needed, the critic's own gradients are not
        try:
            loss, metrics = agent.components["objective"].loss(agent.policy, batch, critic=agent.critic)
            check_finite("policy loss", loss.item(), step, metrics)
            optimizer.zero_grad()
            loss.backward()
        finally:
            agent.critic.requires_grad_(True)
        check_finite("policy gradient norm", optimizer.clip(), step)
        optimizer.step()
        targets.follow(agent, self.spec.tau)
        return metrics


class Targets:
    """Slowly moving copies of the policy and critic that the TD target is computed from."""

    def __init__(self, policy: torch.nn.Module, critic: torch.nn.Module):
        self.policy, self.critic = policy.requires_grad_(False), critic.requires_grad_(False)

    def state_dict(self) -> dict:
        return {"policy": self.policy.state_dict(), "critic": self.critic.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.policy.load_state_dict(state["policy"])
        self.critic.load_state_dict(state["critic"])

    def follow(self, agent: Agent, tau: float) -> None:
        polyak_update(self.policy.parameters(), agent.policy.parameters(), tau)
        polyak_update(self.critic.parameters(), agent.critic.parameters(), tau)


@hookimpl
def register_trainers(register):
    register(OffPolicy)

"""Trainer ``cem``: cross-entropy method search over the policy's parameters."""

from __future__ import annotations

import numpy as np
import torch
from pydantic import Field
from torch.func import functional_call, vmap
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from pgkit import hookimpl
from pgkit.kinds import Agent, Trainer, TrainerSpec, TrainingContext

__version__ = "0.2.0"


class CEMSpec(TrainerSpec):
    total_steps: int = Field(300_000, ge=1, description="Environment steps to search for (all candidates' envs together).")
    population: int = Field(50, ge=2, le=4096, description="Candidates sampled per iteration (one env each).")
    elite_fraction: float = Field(0.2, gt=0, le=1, description="Fraction of the best candidates the Gaussian is refit to.")
    initial_std: float = Field(1.0, gt=0, description="Initial standard deviation of every parameter around the initial policy.")
    extra_std: float = Field(0.1, ge=0, description="Noise std added when refitting, to keep searching (Szita & Lorincz 2006).")
    extra_std_iterations: int = Field(20, ge=1, description="Iterations over which the extra noise decays linearly to 0.")
    episodes_per_candidate: int = Field(1, ge=1, description="Episodes averaged into each candidate's score.")


class CEM(Trainer):
    """theta_i ~ N(mu, diag(sigma^2)); score J(theta_i) by episode returns with the head's mode;
    mu, sigma^2 <- mean and variance of the elite + extra noise. The policy sits at mu after every iteration."""

    name = "cem"
    Spec = CEMSpec
    required_slots = frozenset({"network", "policy_head"})
    optional_slots = frozenset({"logger"})

    def setup(self, ctx: TrainingContext) -> None:
        self.envs = ctx.make_envs(num_envs=self.spec.population)
        self.mean = parameters_to_vector(ctx.agent.policy.parameters()).detach().clone()
        self.std = torch.full_like(self.mean, self.spec.initial_std)
        self.generator = torch.Generator().manual_seed(ctx.seed)
        self.iteration = 0

    def iterate(self, ctx: TrainingContext) -> dict[str, float]:
        spec = self.spec
        elites = max(1, round(spec.elite_fraction * spec.population))
        candidates = self.mean + self.std * torch.randn(spec.population, len(self.mean), generator=self.generator)
        scores = self._score(ctx.agent, candidates, ctx.seed + self.iteration)
        best = torch.topk(scores, elites).indices
        extra = spec.extra_std * max(0.0, 1.0 - self.iteration / spec.extra_std_iterations)
        self.mean = candidates[best].mean(0)
        self.std = (candidates[best].var(0, unbiased=False) + extra**2).sqrt()
        self.iteration += 1
        vector_to_parameters(self.mean, ctx.agent.policy.parameters())
        return {
            "iteration": float(self.iteration),
            "candidate_return_mean": float(scores.mean()),
            "elite_return_mean": float(scores[best].mean()),
            "best_return": float(scores.max()),
            "std_mean": float(self.std.mean()),
        }

    def _score(self, agent: Agent, candidates: torch.Tensor, seed: int) -> torch.Tensor:
        """Mean return of each candidate's episodes completed while every candidate completes at least
        ``episodes_per_candidate`` (all stepped together: the envs of candidates that finish early keep
        playing, and those episodes count too)."""
        policy = agent.policy
        names = [name for name, _ in policy.named_parameters()]
        shapes = [p.shape for _, p in policy.named_parameters()]

        def act(vector: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
            parameters, start = {}, 0
            for name, shape in zip(names, shapes):
                parameters[name] = vector[start : start + shape.numel()].view(shape)
                start += shape.numel()
            distribution = functional_call(policy, parameters, (obs.unsqueeze(0),))
            return policy.head.env_action(distribution.mode)[0]

        batched_act = vmap(act)
        obs, _ = self.envs.reset(seed=seed)
        totals, running = np.zeros(len(candidates)), np.zeros(len(candidates))
        completed = np.zeros(len(candidates), dtype=np.int64)
        with torch.no_grad():
            while (completed < self.spec.episodes_per_candidate).any():
                prepared = torch.as_tensor(agent.prepare(obs), dtype=agent.obs_dtype)
                obs, reward, terminated, truncated, _ = self.envs.step(batched_act(candidates, prepared).numpy())
                running += reward
                done = terminated | truncated
                totals[done] += running[done]
                running[done] = 0.0
                completed += done
        return torch.as_tensor(totals / completed, dtype=torch.float32)


@hookimpl
def register_trainers(register):
    register(CEM)

"""Trainer ``cem``: cross-entropy method search over the policy's parameters."""

from __future__ import annotations

import time

import numpy as np
import torch
from pydantic import Field
from torch.func import functional_call, vmap
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from pgkit import Spec, hookimpl
from pgkit.kinds.agent import Agent
from pgkit.envs.making import make_vector_env
from pgkit.kinds import Trainer
from pgkit.runtime.run import Run

__version__ = "0.1.0"


class CEMSpec(Spec):
    total_steps: int = Field(300_000, ge=1, description="Environment steps to search for (all candidates' episodes together).")
    population: int = Field(50, ge=2, le=4096, description="Candidates sampled per iteration (one env each).")
    elite_fraction: float = Field(0.2, gt=0, le=1, description="Fraction of the best candidates the Gaussian is refit to.")
    initial_std: float = Field(1.0, gt=0, description="Initial standard deviation of every parameter around the initial policy.")
    extra_std: float = Field(0.1, ge=0, description="Noise std added when refitting, to keep searching (Szita & Lorincz 2006).")
    extra_std_iterations: int = Field(20, ge=1, description="Iterations over which the extra noise decays linearly to 0.")
    episodes_per_candidate: int = Field(1, ge=1, description="Episodes averaged into each candidate's score.")


class CEM(Trainer):
    """theta_i ~ N(mu, diag(sigma^2)); score J(theta_i) by episode returns with the head's mode;
    mu, sigma^2 <- mean and variance of the elite + extra noise. Ends with the policy at mu."""

    name = "cem"
    Spec = CEMSpec
    required_slots = frozenset({"network", "policy_head"})
    optional_slots = frozenset({"logger"})

    def train(self, agent: Agent, run: Run) -> None:
        spec = self.spec
        policy = agent.policy
        mean = parameters_to_vector(policy.parameters()).detach().clone()
        std = torch.full_like(mean, spec.initial_std)
        generator = torch.Generator().manual_seed(run.seed)
        envs = make_vector_env(run.recipe.settings.env, num_envs=spec.population)
        elites = max(1, round(spec.elite_fraction * spec.population))
        run.start(spec.total_steps)
        steps, iteration, started = 0, 0, time.perf_counter()
        try:
            while steps < spec.total_steps:
                candidates = mean + std * torch.randn(spec.population, len(mean), generator=generator)
                scores, used = self._score(agent, envs, candidates, run.seed + iteration)
                steps += used
                best = torch.topk(scores, elites).indices
                extra = spec.extra_std * max(0.0, 1.0 - iteration / spec.extra_std_iterations)
                mean = candidates[best].mean(0)
                std = (candidates[best].var(0, unbiased=False) + extra**2).sqrt()
                iteration += 1
                elapsed = time.perf_counter() - started
                run.log(steps, {
                    "iteration": float(iteration),
                    "return_mean": float(scores.mean()),
                    "elite_return_mean": float(scores[best].mean()),
                    "best_return": float(scores.max()),
                    "std_mean": float(std.mean()),
                    "steps_per_second": steps / elapsed,
                    "time": elapsed,
                })
        finally:
            envs.close()
            run.close()
        vector_to_parameters(mean, policy.parameters())
        run.save(agent, steps, {"cem_std": std})

    def _score(self, agent: Agent, envs, candidates: torch.Tensor, seed: int) -> tuple[torch.Tensor, int]:
        """Mean return of ``episodes_per_candidate`` episodes per candidate, all candidates stepped together."""
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
        needed = self.spec.episodes_per_candidate
        obs, _ = envs.reset(seed=seed)
        totals = np.zeros(len(candidates))
        running = np.zeros(len(candidates))
        finished = np.zeros(len(candidates), dtype=np.int64)
        steps = 0
        with torch.no_grad():
            while (finished < needed).any():
                prepared = torch.as_tensor(agent.prepare(obs), dtype=agent.obs_dtype)
                obs, reward, terminated, truncated, _ = envs.step(batched_act(candidates, prepared).numpy())
                active = finished < needed
                steps += int(active.sum())
                running += np.where(active, reward, 0.0)
                done = (terminated | truncated) & active
                totals[done] += running[done]
                running[done] = 0.0
                finished += done
        return torch.as_tensor(totals / needed, dtype=torch.float32), steps


@hookimpl
def register_trainers(register):
    register(CEM)

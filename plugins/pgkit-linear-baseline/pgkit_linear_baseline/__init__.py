"""Baseline ``linear_feature``: rllab's linear feature baseline, refit by regularized least squares."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
from pydantic import Field
from torch import Tensor

from pgkit import Batch, Spec, hookimpl
from pgkit.functional import episode_steps
from pgkit.kinds import Baseline

__version__ = "0.1.0"


class LinearFeatureSpec(Spec):
    reg_coeff: float = Field(1e-5, gt=0, description="Ridge coefficient of the least-squares fit (raised x10 while the fit is not finite).")
    clip_obs: float = Field(10.0, gt=0, description="Observations are clipped to [-clip_obs, clip_obs] before squaring.")


class LinearFeatureBaseline(Baseline):
    """b(s_t) = w . [s, s^2, t/100, (t/100)^2, (t/100)^3, 1], w fitted to the previous batches' returns
    by ridge regression (Duan et al. 2016). Depends on the state and time only, so it keeps the gradient unbiased."""

    name = "linear_feature"
    Spec = LinearFeatureSpec

    def __init__(self, spec: Spec | None = None, **params: object) -> None:
        super().__init__(spec, **params)
        self.weights: Tensor | None = None

    def incompatibility(self, combo) -> str | None:
        if not isinstance(combo.observation_space, gym.spaces.Box):
            return f"needs Box observations to build features from, but {combo.env_id} has {combo.observation_space}"
        return None

    def features(self, batch: Batch) -> Tensor:
        obs = batch.obs.flatten(2).double().clamp(-self.spec.clip_obs, self.spec.clip_obs)
        prior = batch.prior_steps if batch.prior_steps is not None else torch.zeros(batch.num_envs, dtype=torch.long)
        t = episode_steps(batch.terminated, batch.truncated, prior).double().unsqueeze(-1) / 100.0
        return torch.cat([obs, obs.square(), t, t.square(), t.pow(3), torch.ones_like(t)], dim=-1)

    def __call__(self, batch: Batch) -> Tensor:
        if self.weights is None:
            return torch.zeros_like(batch.rewards)
        return (self.features(batch) @ self.weights).to(batch.rewards.dtype)

    def update(self, batch: Batch) -> None:
        x = self.features(batch).flatten(0, 1)
        y = batch.returns.flatten().double()
        gram, target = x.T @ x, x.T @ y
        reg = self.spec.reg_coeff
        for _ in range(5):
            weights = torch.linalg.solve(gram + reg * torch.eye(len(gram), dtype=gram.dtype), target)
            if torch.isfinite(weights).all():
                self.weights = weights
                return
            reg *= 10

    def state_dict(self) -> dict[str, Any]:
        return {"weights": None if self.weights is None else self.weights.tolist()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.weights = None if state["weights"] is None else torch.tensor(state["weights"], dtype=torch.float64)


@hookimpl
def register_baselines(register):
    register(LinearFeatureBaseline)

"""Noise a policy holds per env across steps (``HeadModule.exploration``: gSDE's exploration matrices)."""

from __future__ import annotations

from torch import Tensor
from torch.distributions import Distribution

from pgkit.kinds.agent import Policy


class HeldExploration:
    """Acts a policy whose head holds exploration noise: drawn for every env at the start of each batch and every
    ``head.resample_every`` steps after it (0: once a batch), so a checkpoint between batches holds none of it. A
    head without such noise samples afresh at each step, as before."""

    def __init__(self, policy: Policy, num_envs: int):
        self.policy, self.num_envs = policy, num_envs
        self.noise: Tensor | None = None
        self.step = 0

    def start_batch(self) -> None:
        self.noise, self.step = self.policy.exploration(self.num_envs), 0

    def sample(self, distribution: Distribution) -> Tensor:
        if self.noise is None:
            return distribution.sample()
        every = self.policy.head.resample_every
        if self.step and every and self.step % every == 0:
            self.noise = self.policy.exploration(self.num_envs)
        self.step += 1
        return distribution.sample_with(self.noise)

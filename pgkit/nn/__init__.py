"""Torch helpers (public: plugins may import these): lean action distributions with exact KL
divergences, and exploration noise processes for deterministic policies."""

from pgkit.nn.distributions import Categorical, DiagonalGaussian
from pgkit.nn.noise import ActionNoise, GaussianNoise, NoNoise, OrnsteinUhlenbeckNoise

__all__ = ["ActionNoise", "Categorical", "DiagonalGaussian", "GaussianNoise", "NoNoise", "OrnsteinUhlenbeckNoise"]

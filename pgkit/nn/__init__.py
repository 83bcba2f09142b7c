"""Torch helpers (public: plugins may import these): lean action distributions with exact KL
divergences, the mapping of squashed actions onto Box bounds, exploration noise processes, and the
choice of bfloat16 where the hardware runs it natively."""

from pgkit.nn.bounds import box_bounds, to_box
from pgkit.nn.distributions import Bernoulli, Categorical, DiagonalGaussian, MultiCategorical, SquashedDiagonalGaussian
from pgkit.nn.noise import ActionNoise, GaussianNoise, NoNoise, OrnsteinUhlenbeckNoise
from pgkit.nn.precision import Precision, native_bfloat16, resolve_precision

__all__ = [
    "ActionNoise",
    "Bernoulli",
    "Categorical",
    "DiagonalGaussian",
    "GaussianNoise",
    "MultiCategorical",
    "NoNoise",
    "OrnsteinUhlenbeckNoise",
    "Precision",
    "SquashedDiagonalGaussian",
    "box_bounds",
    "native_bfloat16",
    "resolve_precision",
    "to_box",
]

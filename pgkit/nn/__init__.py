"""Torch helpers (public: plugins may import these): lean action distributions with exact KL
divergences, the joint distribution of a Dict or Tuple action space's parts, the mapping of squashed actions onto Box bounds, exploration noise processes, and the
choice of bfloat16 where the hardware runs it natively, the convolutional torso of images, one
forward pass of a torso that several losses share, and torsos with memory."""

from pgkit.nn.bounds import box_bounds, to_box
from pgkit.nn.composite import CompositeDistribution, PartLayout
from pgkit.nn.convolution import CNNTorso, image_layout, output_size
from pgkit.nn.distributions import Bernoulli, Categorical, DiagonalGaussian, MultiCategorical, SquashedDiagonalGaussian, StateDependentGaussian
from pgkit.nn.noise import ActionNoise, GaussianNoise, NoNoise, OrnsteinUhlenbeckNoise
from pgkit.nn.precision import Precision, native_bfloat16, resolve_precision
from pgkit.nn.recurrent import RecurrentTorso, Sequences, recurrent_torsos, run_as_sequences
from pgkit.nn.groups import GroupedDistribution, GroupedModule
from pgkit.nn.reuse import outputs_reused
from pgkit.nn.views import ColumnView

__all__ = [
    "ActionNoise",
    "Bernoulli",
    "CNNTorso",
    "Categorical",
    "ColumnView",
    "CompositeDistribution",
    "DiagonalGaussian",
    "GaussianNoise",
    "GroupedDistribution",
    "GroupedModule",
    "MultiCategorical",
    "NoNoise",
    "OrnsteinUhlenbeckNoise",
    "PartLayout",
    "Precision",
    "RecurrentTorso",
    "Sequences",
    "SquashedDiagonalGaussian",
    "StateDependentGaussian",
    "box_bounds",
    "image_layout",
    "native_bfloat16",
    "output_size",
    "outputs_reused",
    "recurrent_torsos",
    "resolve_precision",
    "run_as_sequences",
    "to_box",
]

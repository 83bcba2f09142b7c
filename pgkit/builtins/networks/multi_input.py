"""Network ``multi_input``: one encoder per entry of a Dict or Tuple observation, then an MLP over their
features joined (as Stable-Baselines3's CombinedExtractor and MultiInputPolicy): images (Box of 2 or 3
dimensions) through a CNN, every other entry as its flat vector (Discrete parts one-hot)."""

from __future__ import annotations

import math
from typing import Literal

import gymnasium as gym
import torch
from pydantic import Field, PositiveInt
from torch import Tensor, nn

from pgkit import Spec, hookimpl
from pgkit.data import ObservationEncoder, Part, flat_layout, is_structured
from pgkit.kinds import Network
from pgkit.nn import CNNTorso


ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU, "gelu": nn.GELU, "silu": nn.SiLU}


class ImageSpec(Spec):
    layers: list[tuple[PositiveInt, PositiveInt, PositiveInt]] = Field(
        [(32, 8, 4), (64, 4, 2), (64, 3, 1)], description="Convolutions as [out_channels, kernel, stride], each followed by ReLU; the default is the Nature DQN's."
    )
    features: PositiveInt = Field(256, description="Units of the fully connected layer after the convolutions (SB3's CombinedExtractor: 256).")
    layout: Literal["auto", "channels_first", "channels_last"] = Field("auto", description="Where an image's channels are; auto: the smaller of its first and last dimensions.")
    scale: float | None = Field(None, gt=0, description="Factor applied to images; null: 1/255 for uint8 images, else 1.")


def is_image(space: gym.Space) -> bool:
    return isinstance(space, gym.spaces.Box) and len(space.shape) in (2, 3) and min(space.shape[-2:]) >= 8


class MultiInputTorso(nn.Module):
    """stored obs [B, D] -> cut into its parts -> image parts through a CNN each, other parts as flat vectors
    (class indices one-hot) -> joined -> (Linear -> activation) per hidden size -> [B, out_features]."""

    def __init__(self, space: gym.Space, image: ImageSpec, hidden_sizes: list[int], activation: str):
        super().__init__()
        self.parts = flat_layout(space)
        self.images = nn.ModuleDict({
            str(part.key): CNNTorso(part.space, [tuple(layer) for layer in image.layers], image.features, image.layout, image.scale)
            for part in self.parts if is_image(part.space)
        })
        self.flat = nn.ModuleDict({  # the other parts, each read from its own stored columns
            str(part.key): ObservationEncoder(gym.spaces.Tuple((part.space,))) for part in self.parts if not is_image(part.space)
        })
        width = sum(encoder.out_features for encoder in [*self.images.values(), *self.flat.values()])
        layers: list[nn.Module] = []
        for size in hidden_sizes:
            linear = nn.Linear(width, size)
            nn.init.orthogonal_(linear.weight, gain=math.sqrt(2))
            nn.init.zeros_(linear.bias)
            layers += [linear, ACTIVATIONS[activation]()]
            width = size
        self.mlp = nn.Sequential(*layers)
        self.out_features = width

    def forward(self, obs: Tensor) -> Tensor:
        return self.mlp(torch.cat([self._encode(part, obs) for part in self.parts], dim=-1))

    def _encode(self, part: Part, obs: Tensor) -> Tensor:
        values = obs[..., part.offset : part.offset + part.size]
        if str(part.key) in self.images:
            return self.images[str(part.key)](values.reshape(*obs.shape[:-1], *part.space.shape))
        return self.flat[str(part.key)](values)


class MultiInputSpec(Spec):
    image: ImageSpec = Field(default_factory=ImageSpec, description="The CNN of each image entry (the Nature DQN's layers by default).")
    hidden_sizes: list[PositiveInt] = Field([64, 64], description="Widths of the MLP over the joined features; [] passes them on as they are.")
    activation: Literal["tanh", "relu", "elu", "gelu", "silu"] = Field("tanh", description="Nonlinearity of the MLP.")


class MultiInput(Network):
    """Dict and Tuple observations read entry by entry: a CNN for each image, the flat vector of every other entry, then an MLP over them joined (SB3's MultiInputPolicy)."""

    name = "multi_input"
    Spec = MultiInputSpec

    def incompatibility(self, combo) -> str | None:
        space = combo.observation_space
        if not is_structured(space):
            return f"reads Dict or Tuple observations, but {combo.env_id} has {space}; use network mlp or cnn"
        return None

    def build(self, observation_space: gym.Space) -> nn.Module:
        return MultiInputTorso(observation_space, self.spec.image, list(self.spec.hidden_sizes), self.spec.activation)


@hookimpl
def register_networks(register):
    register(MultiInput)

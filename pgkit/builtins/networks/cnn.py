"""Network ``cnn``: convolutions over image observations, then one fully connected layer.

The default layers are the Nature DQN torso (Mnih et al. 2015), as in SB3's NatureCNN: 32 8x8 filters of
stride 4, 64 4x4 of stride 2, 64 3x3 of stride 1, ReLU after each, then 512 units. Small images (MinAtar's
10x10) take smaller layers, e.g. ``layers: [[16, 3, 1]]`` and ``features: 128``."""

from __future__ import annotations

from typing import Literal

import gymnasium as gym
from pydantic import Field, PositiveInt
from torch import nn

from pgkit import Spec, hookimpl
from pgkit.kinds import Network
from pgkit.nn import CNNTorso, image_layout, output_size


class CNNSpec(Spec):
    layers: list[tuple[PositiveInt, PositiveInt, PositiveInt]] = Field(
        [(32, 8, 4), (64, 4, 2), (64, 3, 1)], description="Convolutions as [out_channels, kernel, stride], each followed by ReLU; the default is the Nature DQN's."
    )
    features: PositiveInt = Field(512, description="Units of the fully connected layer after the convolutions (ReLU).")
    layout: Literal["auto", "channels_first", "channels_last"] = Field(
        "auto", description="Where the channels of a 3-dimensional observation are; auto: the smaller of the first and last dimensions."
    )
    scale: float | None = Field(
        None, gt=0, description="Factor applied to observations before the first convolution; null: 1/255 for uint8 images, else 1."
    )


class CNN(Network):
    """Convolutional torso for image observations (Box of 2 or 3 dimensions): the Nature DQN layers by default."""

    name = "cnn"
    Spec = CNNSpec

    def incompatibility(self, combo) -> str | None:
        space = combo.observation_space
        if not isinstance(space, gym.spaces.Box) or len(space.shape) not in (2, 3):
            return f"reads images (a Box of 2 or 3 dimensions), but {combo.env_id} has {space}"
        _, height, width, _ = image_layout(space, self.spec.layout)
        layers = list(self.spec.layers)
        if min(output_size(height, layers), output_size(width, layers)) < 1:
            return (f"has layers {[list(layer) for layer in layers]} that shrink {combo.env_id}'s {height}x{width} images to nothing; "
                    "give smaller kernels or strides in network.layers, e.g. [[16, 3, 1]]")
        return None

    def build(self, observation_space: gym.Space) -> nn.Module:
        return CNNTorso(observation_space, [tuple(layer) for layer in self.spec.layers], self.spec.features, self.spec.layout, self.spec.scale)


@hookimpl
def register_networks(register):
    register(CNN)

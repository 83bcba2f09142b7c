"""Network ``mlp``: a multi-layer perceptron torso."""

from __future__ import annotations

import math
from typing import Callable, Literal

import gymnasium as gym
import numpy as np
import torch
from pydantic import Field, PositiveInt
from torch import Tensor, nn
from torch.nn import functional as F

from pgkit import Spec, hookimpl
from pgkit.data import EncodedLinear, ObservationEncoder, is_structured
from pgkit.kinds import Network

# name -> (the layer shown in the module tree, the same function called in forward)
ACTIVATIONS: dict[str, tuple[type[nn.Module], Callable[[Tensor], Tensor]]] = {
    "tanh": (nn.Tanh, torch.tanh),
    "relu": (nn.ReLU, F.relu),
    "elu": (nn.ELU, F.elu),
    "gelu": (nn.GELU, F.gelu),
    "silu": (nn.SiLU, F.silu),
}


class MLPTorso(nn.Sequential):
    """encoder -> (Linear -> activation) per hidden size. A Sequential for its module tree and state_dict;
    ``forward`` calls the layers' functions directly (no per-layer module call on the hot path). The first
    Linear reads the stored observation itself (``EncodedLinear``: Discrete parts as lookups, not one-hot products)."""

    def __init__(self, space: gym.Space, hidden_sizes: list[int], activation: str, orthogonal_init: bool):
        encoder = ObservationEncoder(space)
        layer, function = ACTIVATIONS[activation]
        layers: list[nn.Module] = [encoder]
        width = encoder.out_features
        for size in hidden_sizes:
            linear = EncodedLinear(encoder, size) if len(layers) == 1 else nn.Linear(width, size)
            if orthogonal_init:
                nn.init.orthogonal_(linear.weight, gain=math.sqrt(2))
                nn.init.zeros_(linear.bias)
            layers += [linear, layer()]
            width = size
        super().__init__(*layers)
        self.out_features = width
        self.linears, self.activation = tuple(layers[1::2]), function  # plain attributes, not submodules

    def forward(self, obs: Tensor) -> Tensor:
        if not self.linears:
            return self._modules["0"](obs)  # the encoder alone: a linear model's features
        first, *rest = self.linears
        features = self.activation(first(obs))
        for linear in rest:
            features = self.activation(F.linear(features, linear.weight, linear.bias))
        return features


class MLPEnsemble(nn.Module):
    """K independent MLPTorsos as batched matrices: per layer, h <- activation(h W_k + b_k) for all k in one
    ``baddbmm`` (weights [K, in, out], biases [K, 1, out]). ``forward(obs [B, ...], members=None) -> [K, B, out]``.
    Each member is initialized as an MLPTorso's layers are (nn.Linear's default, or orthogonal)."""

    def __init__(self, space: gym.Space, hidden_sizes: list[int], activation: str, orthogonal_init: bool, count: int):
        super().__init__()
        self.encoder = ObservationEncoder(space)
        self.activation = ACTIVATIONS[activation][1]
        self.weights, self.biases = nn.ParameterList(), nn.ParameterList()
        width = self.encoder.out_features
        for size in hidden_sizes:
            members = [nn.Linear(width, size) for _ in range(count)]
            for linear in members:
                if orthogonal_init:
                    nn.init.orthogonal_(linear.weight, gain=math.sqrt(2))
                    nn.init.zeros_(linear.bias)
            self.weights.append(nn.Parameter(torch.stack([linear.weight.detach().t() for linear in members])))
            self.biases.append(nn.Parameter(torch.stack([linear.bias.detach() for linear in members]).unsqueeze(1)))
            width = size
        self.out_features, self.count = width, count

    def forward(self, obs: Tensor, members: int | None = None) -> Tensor:
        members = self.count if members is None else members
        features = self.encoder(obs).expand(members, -1, -1)
        for weight, bias in zip(self.weights, self.biases):
            if members < self.count:  # slicing costs a zero-filled copy in backward: only when asked
                weight, bias = weight[:members], bias[:members]
            features = self.activation(torch.baddbmm(bias, features, weight))
        return features


class MLPSpec(Spec):
    hidden_sizes: list[PositiveInt] = Field([64, 64], description="Width of each hidden layer; [] gives a linear model.")
    activation: Literal["tanh", "relu", "elu", "gelu", "silu"] = Field("tanh", description="Nonlinearity after each hidden layer.")
    orthogonal_init: bool = Field(True, description="Orthogonal weights with gain sqrt(2) and zero biases (as in SB3 and CleanRL).")


class MLP(Network):
    """Multi-layer perceptron over the flattened observation (one-hot for Discrete observations and the Discrete parts of Dict and Tuple ones)."""

    name = "mlp"
    Spec = MLPSpec

    def incompatibility(self, combo) -> str | None:
        space = combo.observation_space
        if not isinstance(space, (gym.spaces.Box, gym.spaces.Discrete)) and not is_structured(space):
            return (f"reads Box, Discrete, Dict or Tuple observations, but {combo.env_id} has {space}; "
                    "turn it into one of those with an env wrapper (env.wrappers), or register a network that reads it")
        return None

    def caution(self, combo) -> str | None:
        space = combo.observation_space
        if isinstance(space, gym.spaces.Box) and len(space.shape) >= 2 and space.dtype == np.uint8:
            return (f"flattens {combo.env_id}'s {space.shape} uint8 images into {math.prod(space.shape):,} inputs, losing their layout\n"
                    "    fix: `network: cnn` (convolutions, the Nature DQN layers by default)")
        return None

    def build(self, observation_space: gym.Space) -> nn.Module:
        return MLPTorso(observation_space, list(self.spec.hidden_sizes), self.spec.activation, self.spec.orthogonal_init)

    def build_ensemble(self, observation_space: gym.Space, count: int) -> nn.Module:
        return MLPEnsemble(observation_space, list(self.spec.hidden_sizes), self.spec.activation, self.spec.orthogonal_init, count)


@hookimpl
def register_networks(register):
    register(MLP)

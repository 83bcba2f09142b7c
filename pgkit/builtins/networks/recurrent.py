"""Networks ``lstm`` and ``gru``: an encoder, a recurrence that carries a state from step to step, and an
MLP after it (sb3-contrib's MlpLstmPolicy: LSTM then net_arch; TorchRL's LSTMModule).

The encoder is a Nature CNN (512 features) for uint8 images of 2 or 3 dimensions, else the flattened
observation through ``encoder_sizes`` layers. The state is zeroed at every episode start (terminated or
truncated), carried across batches, and stored with each batch, so the loss re-runs the recurrence from it."""

from __future__ import annotations

import math
from typing import Literal

import gymnasium as gym
import numpy as np
import torch
from pydantic import Field, PositiveInt
from torch import Tensor, nn

from pgkit import Spec, hookimpl
from pgkit.kinds import Network
from pgkit.kinds.capabilities import OLD_POLICY, SEQUENCES
from pgkit.data import ObservationEncoder
from pgkit.nn import CNNTorso, RecurrentTorso

NATURE_LAYERS = [(32, 8, 4), (64, 4, 2), (64, 3, 1)]
ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}


class RecurrentSpec(Spec):
    hidden_size: PositiveInt = Field(64, description="Units of the recurrent state (per layer; an LSTM keeps h and c).")
    num_layers: PositiveInt = Field(1, description="Stacked recurrent layers.")
    encoder_sizes: list[PositiveInt] = Field([], description="Hidden layers before the recurrence (flat observations); [] feeds the observation itself.")
    head_sizes: list[PositiveInt] = Field([64], description="Hidden layers after the recurrence (sb3-contrib's net_arch); [] gives its output as the features.")
    activation: Literal["tanh", "relu"] = Field("tanh", description="Nonlinearity of the layers before and after the recurrence.")
    orthogonal_init: bool = Field(True, description="Orthogonal weights (gain sqrt(2) for the layers, 1 for the recurrence) and zero biases.")


def _layers(width: int, sizes: list[int], activation: str, orthogonal: bool) -> tuple[nn.Sequential, int]:
    layers: list[nn.Module] = []
    for size in sizes:
        linear = nn.Linear(width, size)
        if orthogonal:
            nn.init.orthogonal_(linear.weight, gain=math.sqrt(2))
            nn.init.zeros_(linear.bias)
        layers += [linear, ACTIVATIONS[activation]()]
        width = size
    return nn.Sequential(*layers), width


def _is_image(space: gym.Space) -> bool:
    return isinstance(space, gym.spaces.Box) and len(space.shape) in (2, 3) and space.dtype == np.uint8


class RecurrentNetworkTorso(RecurrentTorso):
    """encoder -> LSTM or GRU over time (state zeroed at episode starts) -> MLP. The state of M sequences is
    packed as ``[M, S]``: an LSTM's h and c of every layer side by side (S = 2 * layers * hidden), a GRU's h."""

    def __init__(self, space: gym.Space, cell: Literal["lstm", "gru"], spec: RecurrentSpec):
        super().__init__()
        if _is_image(space):
            self.encoder: nn.Module = CNNTorso(space, NATURE_LAYERS, 512, "auto")
            width = self.encoder.out_features
        else:
            flat = ObservationEncoder(space)
            layers, width = _layers(flat.out_features, spec.encoder_sizes, spec.activation, spec.orthogonal_init)
            self.encoder = nn.Sequential(flat, layers)
        self.rnn = (nn.LSTM if cell == "lstm" else nn.GRU)(width, spec.hidden_size, spec.num_layers)
        if spec.orthogonal_init:
            for name, parameter in self.rnn.named_parameters():
                nn.init.orthogonal_(parameter) if name.startswith("weight") else nn.init.zeros_(parameter)
        self.head, self.out_features = _layers(spec.hidden_size, spec.head_sizes, spec.activation, spec.orthogonal_init)
        self.parts = 2 if cell == "lstm" else 1  # tensors in the state: (h, c) or h
        self.state_size = self.parts * spec.num_layers * spec.hidden_size

    def run(self, obs: Tensor, state: Tensor, starts: Tensor) -> tuple[Tensor, Tensor]:
        steps, columns = starts.shape
        x = self.encoder(obs.reshape(steps * columns, *obs.shape[2:])).view(steps, columns, -1)
        hidden = self._unpack(state)
        # one call of the fused recurrence per stretch of steps in which no episode starts
        cuts = [0, *(torch.nonzero(starts[1:].any(dim=1)).flatten() + 1).tolist(), steps]
        outputs = []
        for begin, end in zip(cuts[:-1], cuts[1:]):
            kept = (~starts[begin]).to(x.dtype).view(1, columns, 1)
            hidden = tuple(h * kept for h in hidden)
            out, hidden = self.rnn(x[begin:end], hidden if self.parts == 2 else hidden[0])
            hidden = hidden if self.parts == 2 else (hidden,)
            outputs.append(out)
        return self.head(torch.cat(outputs)), self._pack(hidden)

    def _unpack(self, state: Tensor) -> tuple[Tensor, ...]:
        """[M, S] -> (h, c) or (h,), each [layers, M, hidden] as torch's recurrences take them."""
        columns = state.shape[0]
        layers = self.rnn.num_layers
        stacked = state.view(columns, self.parts * layers, self.rnn.hidden_size).transpose(0, 1).contiguous()
        return tuple(stacked.split(layers))

    def _pack(self, hidden: tuple[Tensor, ...]) -> Tensor:
        return torch.cat(hidden).transpose(0, 1).reshape(hidden[0].shape[1], self.state_size)


class LSTM(Network):
    """Long short-term memory (Hochreiter & Schmidhuber 1997) over an encoder, with an MLP after it."""

    name = "lstm"
    Spec = RecurrentSpec
    requires = frozenset({SEQUENCES})
    cell: Literal["lstm", "gru"] = "lstm"

    def incompatibility(self, combo) -> str | None:
        space = combo.observation_space
        if not isinstance(space, (gym.spaces.Box, gym.spaces.Discrete, gym.spaces.Dict, gym.spaces.Tuple)):
            return f"reads Box, Discrete, Dict or Tuple observations, but {combo.env_id} has {space}"
        objective = combo.get("objective")
        if objective is not None and OLD_POLICY in objective.requires:
            return (f"carries a memory that the copy of the policy which collected the batch (objective {objective.name}'s old_policy) "
                    "is not run with; use objective ppo_clip or reinforce with a recurrent network")
        return None

    def build(self, observation_space: gym.Space) -> nn.Module:
        return RecurrentNetworkTorso(observation_space, self.cell, self.spec)


class GRU(LSTM):
    """Gated recurrent unit (Cho et al. 2014) over an encoder, with an MLP after it."""

    name = "gru"
    cell = "gru"


@hookimpl
def register_networks(register):
    register(LSTM)
    register(GRU)

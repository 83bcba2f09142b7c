"""Stored observations -> what a network reads: flat float vectors with class indices one-hot
(``ObservationEncoder``), or straight into a first linear layer that looks the hot columns up
(``EncodedLinear``)."""

from __future__ import annotations

import math

import gymnasium as gym
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from pgkit.data.structured import is_structured, segments


class ObservationEncoder(nn.Module):
    """Box observations -> flat float vectors; Discrete observations (of any ``start``) -> one-hot vectors;
    Dict and Tuple observations, stored as rows with class indices (``pgkit.data.structured``) -> the flat
    vector ``gymnasium.spaces.flatten`` gives (Discrete and MultiDiscrete parts one-hot)."""

    def __init__(self, space: gym.Space):
        super().__init__()
        self.first_class, self.num_classes = 0, 0
        self.dense_runs: list[tuple[int, int, int]] = []  # (stored start, stored stop, encoded start) of dense columns
        index, offsets = [], []  # stored columns holding class indices, and where each one's one-hot block starts
        if is_structured(space):
            leaves = segments(space)
            for segment in leaves:
                if not segment.classes:
                    self._add_dense(segment.start, segment.width, segment.encoded_start)
                    continue
                offset = segment.encoded_start
                for i, classes in enumerate(segment.classes):
                    index.append(segment.start + i)
                    offsets.append(offset)
                    offset += classes
            self.out_features = sum(segment.encoded_width for segment in leaves)
        elif isinstance(space, gym.spaces.Discrete):
            self.first_class, self.num_classes = int(space.start), int(space.n)
            self.out_features = self.num_classes
        elif isinstance(space, gym.spaces.Box):
            self.out_features = int(math.prod(space.shape))
        else:
            raise TypeError(f"reads Box, Discrete, Dict or Tuple observations, not {space}")
        self.structured = is_structured(space)
        self.register_buffer("index", torch.tensor(index, dtype=torch.long), persistent=False)
        self.register_buffer("offsets", torch.tensor(offsets, dtype=torch.long), persistent=False)
        self.start = 0 if isinstance(space, gym.spaces.Box) and space.shape == () else -len(space.shape or ())

    def _add_dense(self, start: int, width: int, encoded_start: int) -> None:
        """Adjacent dense leaves are one run in both layouts."""
        if self.dense_runs and self.dense_runs[-1][1] == start:
            first, _, encoded = self.dense_runs[-1]
            self.dense_runs[-1] = (first, start + width, encoded)
        else:
            self.dense_runs.append((start, start + width, encoded_start))

    @property
    def lookups(self) -> bool:
        """Whether the encoded vector has one-hot blocks (a first linear layer can look their columns up)."""
        return self.num_classes > 0 or len(self.index) > 0

    def classes(self, obs: Tensor) -> Tensor:
        """[..., K] the encoded column of each class index's hot entry."""
        if self.num_classes:
            return (obs.long() - self.first_class).unsqueeze(-1)
        return obs[..., self.index].long() + self.offsets

    def forward(self, obs: Tensor) -> Tensor:
        if self.num_classes:
            return F.one_hot(obs.long() - self.first_class, self.num_classes).float()
        if self.structured:
            if not len(self.index):
                return obs.float()
            encoded = obs.new_zeros(*obs.shape[:-1], self.out_features, dtype=torch.float32)
            for start, stop, at in self.dense_runs:
                encoded[..., at : at + stop - start] = obs[..., start:stop]
            return encoded.scatter_(-1, self.classes(obs), 1.0)
        if self.start == 0:
            return obs.float().unsqueeze(-1)
        return obs.float().flatten(start_dim=obs.dim() + self.start)


class EncodedLinear(nn.Linear):
    """y = W encoder(obs) + b over a stored observation, its one-hot blocks never built: W onehot(i) = W[:, i],
    so each class index adds one looked-up column of W (an embedding lookup) and the dense columns go through
    their slice of W. The same function and weights (``in_features`` = the encoded width) as nn.Linear over
    ``encoder(obs)``, without a matrix product over the one-hot width (Taxi: 500 columns for one index)."""

    def __init__(self, encoder: ObservationEncoder, out_features: int):
        super().__init__(encoder.out_features, out_features)
        self.read = (encoder,)  # the encoder's layout (a tuple: not a second submodule)

    def forward(self, obs: Tensor) -> Tensor:
        encoder = self.read[0]
        if not encoder.lookups:
            return F.linear(encoder(obs), self.weight, self.bias)
        out = F.embedding(encoder.classes(obs), self.weight.t()).sum(-2) + self.bias
        for start, stop, at in encoder.dense_runs:
            out = out + F.linear(obs[..., start:stop].float(), self.weight[:, at : at + stop - start])
        return out

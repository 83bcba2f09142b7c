"""Critics ``q`` and ``twin_q`` (Q(s, a) of Box actions), ``discrete_q`` and ``twin_discrete_q`` (Q(s, .) of every Discrete action)."""

from __future__ import annotations

import math

import gymnasium as gym
import torch
from pydantic import Field
from torch import Tensor, nn
from torch.nn import functional as F

from pgkit import Batch, Spec, hookimpl
from pgkit.data import is_structured
from pgkit.kinds import Critic, Network
from pgkit.kinds.capabilities import ACTION_VALUE, ALL_ACTION_VALUES, BOX_ACTIONS, DISCRETE_ACTIONS, REPLAYED_TRANSITIONS, SEQUENCES, TD_ERRORS


class QEnsemble(nn.Module):
    """K independent Q networks over [flat obs, action]: ``forward(obs, action) -> [K, B]``;
    ``networks=1`` evaluates only the first (all the policy loss of DPG needs). The torsos are the
    network's ensemble (one batched matrix product per layer for all K when the network supports it)."""

    def __init__(self, torsos: nn.Module, count: int):
        super().__init__()
        self.torsos = torsos
        heads = [nn.Linear(torsos.out_features, 1) for _ in range(count)]
        self.head_weight = nn.Parameter(torch.stack([head.weight.detach().t() for head in heads]))  # [K, F, 1]
        self.head_bias = nn.Parameter(torch.stack([head.bias.detach() for head in heads]).unsqueeze(1))  # [K, 1, 1]

    def forward(self, obs: Tensor, action: Tensor, networks: int | None = None) -> Tensor:
        inputs = torch.cat([obs.flatten(1).float(), action.flatten(1)], dim=-1)
        features = self.torsos(inputs, members=networks)
        weight, bias = self.head_weight, self.head_bias
        if len(features) < len(weight):  # slicing costs a zero-filled copy in backward: only when asked
            weight, bias = weight[: len(features)], bias[: len(features)]
        # one output per network: a broadcast product summed over the features, not a baddbmm with an inner dimension
        # of 1, whose backward runs an outer product through bmm (on CPU, [2, 256, 64]: 162 us forward and backward, 71 this way)
        return (features * weight.transpose(1, 2)).sum(-1) + bias.squeeze(-1)


class MemoryQEnsemble(nn.Module):
    """K Q networks for a recurrent network: each one's memory reads the observations s_0..s_t and the action
    joins after it, Q_k(h_t, a) = w_k^T relu(W_k [f_k(h_t), a] + b_k) + c_k with f_k the torso's features (as
    Ni et al. 2022's recurrent SAC and TD3), so the TD target reads s' with any a' from the same memory.
    ``forward(obs, action, networks=None) -> [K, B]``."""

    def __init__(self, torsos: list[nn.Module], action_width: int):
        super().__init__()
        self.torsos = nn.ModuleList(torsos)
        width = torsos[0].out_features
        self.heads = nn.ModuleList(nn.Sequential(nn.Linear(width + action_width, width), nn.ReLU(), nn.Linear(width, 1)) for _ in torsos)

    def forward(self, obs: Tensor, action: Tensor, networks: int | None = None) -> Tensor:
        members = list(zip(self.torsos, self.heads))[:networks]
        return torch.stack([head(torch.cat([torso(obs), action.flatten(1)], dim=-1)).squeeze(-1) for torso, head in members])


class DiscreteQEnsemble(nn.Module):
    """K independent Q networks over the observation with one output per action: ``values(obs) -> [K, B, A]``,
    ``forward(obs, action) -> [K, B]`` the values of the given choices (0-based, as the replay stores them)."""

    def __init__(self, torsos: nn.Module, count: int, num_actions: int):
        super().__init__()
        self.torsos = torsos
        heads = [nn.Linear(torsos.out_features, num_actions) for _ in range(count)]
        self.head_weight = nn.Parameter(torch.stack([head.weight.detach().t() for head in heads]))  # [K, F, A]
        self.head_bias = nn.Parameter(torch.stack([head.bias.detach() for head in heads]).unsqueeze(1))  # [K, 1, A]

    def values(self, obs: Tensor, networks: int | None = None) -> Tensor:
        features = self.torsos(obs, members=networks)
        weight, bias = self.head_weight, self.head_bias
        if len(features) < len(weight):
            weight, bias = weight[: len(features)], bias[: len(features)]
        return torch.baddbmm(bias, features, weight)

    def forward(self, obs: Tensor, action: Tensor, networks: int | None = None) -> Tensor:
        values = self.values(obs, networks)
        choice = action.reshape(1, -1, 1).long().expand(len(values), -1, 1)
        return values.gather(-1, choice).squeeze(-1)


class QSpec(Spec):
    huber: bool = Field(False, description="Huber instead of squared error for the TD regression.")


class Q(Critic):
    """Action-value critic Q(s, a), regressed on the trainer's TD targets (DDPG); the network reads s and a as
    one row (a Box observation and the action, or a Dict or Tuple observation's stored row and the action), a
    recurrent network the observations only, the action joining after its memory (``MemoryQEnsemble``)."""

    name = "q"
    Spec = QSpec
    provides = frozenset({ACTION_VALUE, TD_ERRORS})
    requires = frozenset({BOX_ACTIONS, REPLAYED_TRANSITIONS})
    count = 1  # networks in the ensemble; targets use their minimum

    def incompatibility(self, combo) -> str | None:
        space = combo.observation_space
        if not isinstance(space, gym.spaces.Box) and not is_structured(space):
            return f"reads Box, Dict or Tuple observations with the action as one row, but {combo.env_id} has {space}"
        return None

    def build(self, network: Network, observation_space: gym.Space, action_space: gym.Space, policy_torso: nn.Module) -> nn.Module:
        if SEQUENCES in network.requires:  # a memory of the observations, the action after it
            return MemoryQEnsemble([network.build(observation_space) for _ in range(self.count)], math.prod(action_space.shape))
        action = gym.spaces.Box(-math.inf, math.inf, (math.prod(action_space.shape),), dtype="float32")
        if is_structured(observation_space):  # the stored row, then the action's columns
            return QEnsemble(network.build_ensemble(gym.spaces.Tuple((observation_space, action)), self.count), self.count)
        width = math.prod(observation_space.shape) + math.prod(action_space.shape)
        joint = gym.spaces.Box(-math.inf, math.inf, (width,), dtype="float32")
        return QEnsemble(network.build_ensemble(joint, self.count), self.count)

    def loss(self, module: nn.Module, batch: Batch) -> Tensor:
        """Sum over the ensemble of the mean regression loss of Q_k(s, a) on ``batch.returns``, each transition
        weighted by ``batch.weights`` where a prioritized replay drew it (importance sampling)."""
        predicted = module(batch.obs, batch.actions).float()
        target = batch.returns.expand_as(predicted)
        regression = F.huber_loss if self.spec.huber else F.mse_loss
        errors = regression(predicted, target, reduction="none")
        if batch.weights is not None:
            errors = errors * batch.weights
        return errors.mean(dim=1).sum()

    @torch.no_grad()
    def td_errors(self, module: nn.Module, batch: Batch) -> Tensor:
        """|y - Q_k(s, a)| averaged over the ensemble, ``[B]``."""
        return (module(batch.obs, batch.actions).float() - batch.returns).abs().mean(dim=0)


class TwinQ(Q):
    """Two Q networks; targets use min(Q1', Q2') to curb overestimation (TD3's clipped double Q, Fujimoto et al. 2018)."""

    name = "twin_q"
    count = 2


class DiscreteQ(Q):
    """Action values Q(s, .) of every Discrete action from one pass over the observation (as DQN's network), regressed on the trainer's TD targets (discrete SAC)."""

    name = "discrete_q"
    provides = frozenset({ACTION_VALUE, ALL_ACTION_VALUES, TD_ERRORS})
    requires = frozenset({DISCRETE_ACTIONS, REPLAYED_TRANSITIONS})

    def build(self, network: Network, observation_space: gym.Space, action_space: gym.Space, policy_torso: nn.Module) -> nn.Module:
        return DiscreteQEnsemble(network.build_ensemble(observation_space, self.count), self.count, int(action_space.n))


class TwinDiscreteQ(DiscreteQ):
    """Two discrete Q networks; targets and the policy use min(Q1, Q2) per action (clipped double Q for discrete SAC, Christodoulou 2019)."""

    name = "twin_discrete_q"
    count = 2


@hookimpl
def register_critics(register):
    register(Q)
    register(TwinQ)
    register(DiscreteQ)
    register(TwinDiscreteQ)

"""The critic contract: V(s) is [B] or Q(s, a) is [K, B], as the critic provides; its loss is a finite
scalar whose gradient reaches every parameter, and gradient steps fit fixed targets."""

from __future__ import annotations

import torch

from pgkit.kinds import Critic, Network
from pgkit.kinds.capabilities import ACTION_VALUE, STATE_VALUE
from pgkit.testing.batches import synthetic_batch
from pgkit.testing.contracts.common import BOX, DISCRETE, OBSERVATIONS, check_spec, check_state, instance


def check_critic(critic: Critic | type[Critic], network: Network | None = None) -> None:
    """See the module docstring; ``network`` builds the critic's torso (default: an mlp)."""
    from pgkit.builtins.networks.mlp import MLP

    critic = instance(critic)
    check_spec(critic)
    check_state(critic)
    assert (STATE_VALUE in critic.provides) != (ACTION_VALUE in critic.provides), f"{critic.name}: a critic provides state_value or action_value"
    network = network or MLP()
    torch.manual_seed(0)
    space = BOX if ACTION_VALUE in critic.provides else DISCRETE
    module = critic.build(network, OBSERVATIONS, space, network.build(OBSERVATIONS))
    batch = synthetic_batch(OBSERVATIONS, space).flatten()
    batch.returns = torch.randn_like(batch.rewards)
    if STATE_VALUE in critic.provides:
        assert module(batch.obs).shape == batch.rewards.shape, f"{critic.name}: V(s) must be [B]"
    else:
        q = module(batch.obs, batch.actions)
        assert q.dim() == 2 and q.shape[1] == len(batch.rewards), f"{critic.name}: Q(s, a) must be [K, B], got {tuple(q.shape)}"
        assert module(batch.obs, batch.actions, networks=1).shape == (1, len(batch.rewards)), f"{critic.name}: networks=1"
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-2)
    first = critic.loss(module, batch)
    assert first.dim() == 0 and torch.isfinite(first), f"{critic.name}: the loss must be a finite scalar"
    first.backward()
    for name, parameter in module.named_parameters():
        assert parameter.grad is not None, f"{critic.name}: no gradient reaches {name}"
    for _ in range(50):
        optimizer.zero_grad()
        critic.loss(module, batch).backward()
        optimizer.step()
    assert critic.loss(module, batch) < first, f"{critic.name}: 50 Adam steps did not lower the loss on fixed targets"

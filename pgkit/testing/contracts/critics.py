"""The critic contract: V(s) is [B] or Q(s, a) is [K, B], as the critic provides (and Q(s, .) [K, B, A] whose
entries are Q(s, a), for all_action_values); its loss is a finite scalar whose gradient reaches every
parameter, an action-value loss honours importance weights, TD errors are |y - Q| per transition, and
gradient steps fit fixed targets."""

from __future__ import annotations

import torch

from pgkit.kinds import Critic, Network
from pgkit.kinds.capabilities import ACTION_VALUE, ALL_ACTION_VALUES, DISCRETE_ACTIONS, STATE_VALUE, TD_ERRORS
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
    space = BOX if ACTION_VALUE in critic.provides and DISCRETE_ACTIONS not in critic.requires else DISCRETE
    module = critic.build(network, OBSERVATIONS, space, network.build(OBSERVATIONS))
    batch = synthetic_batch(OBSERVATIONS, space).flatten()
    batch.returns = torch.randn_like(batch.rewards)
    if STATE_VALUE in critic.provides:
        assert module(batch.obs).shape == batch.rewards.shape, f"{critic.name}: V(s) must be [B]"
    else:
        q = module(batch.obs, batch.actions)
        assert q.dim() == 2 and q.shape[1] == len(batch.rewards), f"{critic.name}: Q(s, a) must be [K, B], got {tuple(q.shape)}"
        assert module(batch.obs, batch.actions, networks=1).shape == (1, len(batch.rewards)), f"{critic.name}: networks=1"
        _check_action_values(critic, module, batch, q)
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


def _check_action_values(critic: Critic, module: torch.nn.Module, batch, q: torch.Tensor) -> None:
    name = critic.name
    if ALL_ACTION_VALUES in critic.provides:
        values = module.values(batch.obs)
        assert values.shape[:2] == q.shape and values.dim() == 3, f"{name}: Q(s, .) must be [K, B, A], got {tuple(values.shape)}"
        chosen = values.gather(-1, batch.actions.reshape(1, -1, 1).long().expand(len(values), -1, 1)).squeeze(-1)
        assert torch.allclose(chosen, q), f"{name}: Q(s, .) at the batch's actions differs from Q(s, a)"
    with torch.no_grad():
        plain = critic.loss(module, batch)
        batch.weights = torch.ones_like(batch.rewards)
        assert torch.allclose(critic.loss(module, batch), plain), f"{name}: importance weights of 1 changed the loss"
        batch.weights[len(batch.rewards) // 2 :] = 0.0
        first_half = type(batch)(**{**batch.__dict__, "weights": None}).rows(torch.arange(len(batch.rewards) // 2))
        expected = critic.loss(module, first_half) * (len(batch.rewards) // 2) / len(batch.rewards)
        assert torch.allclose(critic.loss(module, batch), expected, rtol=1e-4), f"{name}: a weight of 0 must remove a transition from the loss"
        batch.weights = None
    if TD_ERRORS in critic.provides:
        errors = critic.td_errors(module, batch)
        assert errors.shape == batch.rewards.shape and bool((errors >= 0).all()), f"{name}: TD errors must be [B] and >= 0"
        expected = (q.detach().float() - batch.returns).abs().mean(0)
        assert torch.allclose(errors, expected, atol=1e-5), f"{name}: TD errors must be |y - Q_k(s, a)| averaged over its networks"

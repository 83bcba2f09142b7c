"""The contracts of the estimators: advantages (Phi_t and critic targets) and baselines (b(s_t))."""

from __future__ import annotations

import copy

import torch

from pgkit import Batch
from pgkit.kinds import Advantage, Baseline
from pgkit.testing.batches import synthetic_batch
from pgkit.testing.contracts.common import check_spec, check_state, instance


def check_advantage(advantage: Advantage | type[Advantage], seed: int = 0) -> None:
    """advantages and returns are [T, N] and finite; the inputs are not modified and no other field is
    written; a termination stops bootstrapping and a truncation bootstraps; normalize is safe for one step."""
    advantage = instance(advantage)
    check_spec(advantage)
    batch = synthetic_batch(seed=seed)
    before = _fields(batch)
    baseline = torch.zeros_like(batch.rewards)
    advantage(batch, baseline)
    assert batch.advantages.shape == batch.rewards.shape and batch.returns.shape == batch.rewards.shape, f"{advantage.name}: shapes"
    assert torch.isfinite(batch.advantages).all() and torch.isfinite(batch.returns).all(), f"{advantage.name}: non-finite output"
    after = _fields(batch)
    for name, value in before.items():
        assert torch.equal(after.pop(name), value), f"{advantage.name} modified batch.{name}"
    assert set(after) == {"advantages", "returns"}, f"{advantage.name} wrote fields other than advantages and returns: {sorted(after)}"

    ended = synthetic_batch(seed=seed)
    t, n = ended.num_steps // 2, 0
    ended.terminated[t, n], ended.truncated[t, n] = True, False
    assert _depends_on(advantage, ended, t, n, "next_values") is False, f"{advantage.name}: a terminated step must not bootstrap from V(s_T+1)"
    assert _depends_on(advantage, ended, t, n, "later") is False, f"{advantage.name}: a terminated step must not see the next episode's rewards"
    ended.terminated[t, n], ended.truncated[t, n] = False, True
    assert _depends_on(advantage, ended, t, n, "next_values") is True, f"{advantage.name}: a truncated step must bootstrap from V(final observation)"
    assert _depends_on(advantage, ended, t, n, "later") is False, f"{advantage.name}: a truncated step must not see the next episode's rewards"

    one = synthetic_batch(num_steps=1, num_envs=1, seed=seed)
    spec = advantage.spec.model_copy(update={"normalize": True}) if "normalize" in type(advantage.spec).model_fields else advantage.spec
    type(advantage)(spec)(one, torch.zeros_like(one.rewards))
    assert torch.isfinite(one.advantages).all(), f"{advantage.name}: normalizing a batch of one gave {one.advantages}"
    check_state(advantage)


def _depends_on(advantage: Advantage, batch: Batch, t: int, n: int, what: str) -> bool:
    """Does advantages[t, n] change with V(s_{t+1}) (``next_values``) or with everything after step t (``later``)?"""
    results = []
    for value in (0.0, 100.0):
        trial = copy.deepcopy(batch)
        if what == "next_values":
            trial.next_values[t, n] = value
        else:
            trial.rewards[t + 1 :, n] = value
            trial.values[t + 1 :, n] = value
            trial.next_values[t + 1 :, n] = value
        advantage(trial, torch.zeros_like(trial.rewards))
        results.append(float(trial.advantages[t, n]))
    return results[0] != results[1]


def _fields(batch: Batch) -> dict[str, torch.Tensor]:
    fields = {name: value.clone() for name, value in vars(batch).items() if isinstance(value, torch.Tensor)}
    fields.update({f"extras.{k}": v.clone() for k, v in batch.extras.items()})
    return fields


def check_baseline(baseline: Baseline | type[Baseline]) -> None:
    """b(s) is [T, N] and finite, depends on no action or reward of the batch it is applied to, is
    refit by update(), and its state round-trips through state_dict."""
    baseline = instance(baseline)
    check_spec(baseline)
    batch = synthetic_batch()
    batch.returns = torch.randn_like(batch.rewards)
    values = baseline(batch)
    assert values.shape == batch.rewards.shape and torch.isfinite(values).all(), f"{baseline.name}: b(s) must be finite, [T, N]"
    peeking = copy.deepcopy(batch)
    peeking.actions, peeking.rewards = torch.flip(peeking.actions, [0]), torch.randn_like(peeking.rewards)
    assert torch.equal(baseline(peeking), values), f"{baseline.name}: b(s) changed with the batch's actions or rewards (biased)"
    baseline.update(batch)
    state = baseline.state_dict()
    restored = type(baseline)(baseline.spec)
    restored.load_state_dict(copy.deepcopy(state))
    assert torch.equal(restored(batch), baseline(batch)), f"{baseline.name}: state_dict does not restore the fitted baseline"
    check_state(baseline)



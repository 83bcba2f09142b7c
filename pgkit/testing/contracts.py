"""Contracts: what every component of a kind must do, checked by plain functions that raise
AssertionError with a message. Call ``check_component(cls)`` for any component class, or the check of
its kind. Each check builds the component with its default parameters unless given an instance."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from pgkit.data.batch import Batch
from pgkit.kinds.combination import Combination
from pgkit.kinds.component import Component, Spec
from pgkit.runtime.gradient_step import GradientStep
from pgkit.kinds import KINDS, Advantage, Baseline, Critic, Logger, Network, Objective, Optimizer, PolicyHead, Trainer
from pgkit.testing.batches import synthetic_batch

DISCRETE = gym.spaces.Discrete(3)
BOX = gym.spaces.Box(-2.0, 1.0, (2,), np.float32)
OBSERVATIONS = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)


def _instance(component: Component | type[Component]) -> Component:
    return component if isinstance(component, Component) else component()


def check_spec(component: Component | type[Component]) -> None:
    """The spec forbids unknown fields, describes every field, and has working defaults."""
    cls = type(component) if isinstance(component, Component) else component
    spec = cls.Spec
    assert issubclass(spec, Spec), f"{cls.__name__}.Spec must subclass pgkit.Spec"
    assert spec.model_config.get("extra") == "forbid", f"{cls.__name__}.Spec must forbid unknown fields"
    for name, field in spec.model_fields.items():
        assert field.description, f"{cls.__name__}.Spec.{name} needs a description (it is the parameter's documentation)"
    assert cls.summary(), f"{cls.__name__} needs a docstring: its first line is the summary pgkit components shows"
    spec.model_json_schema()  # the schema `pgkit schema` and editors rely on can be built
    if all(not f.is_required() for f in spec.model_fields.values()):
        dumped = spec().model_dump(mode="json")
        assert spec.model_validate(dumped) == spec(), f"{cls.__name__}.Spec does not round-trip through JSON"


def _combo(observation_space: gym.Space, action_space: gym.Space, **components: Component | None) -> Combination:
    return Combination("contract-env", observation_space, action_space, dict(components))


# --- policy heads -------------------------------------------------------------------------------


def check_policy_head(head: PolicyHead | type[PolicyHead], action_space: gym.Space | None = None, samples: int = 4000) -> None:
    """log_prob is [batch] (summed over action dims); entropy is close to -E[log_prob] by sampling;
    samples and modes land inside the action space; gradients reach every parameter; no hidden
    state between calls."""
    head = _instance(head)
    check_spec(head)
    spaces = [action_space] if action_space is not None else [s for s in (DISCRETE, BOX) if head.incompatibility(_combo(OBSERVATIONS, s)) is None]
    assert spaces, f"{head.name} accepts neither {DISCRETE} nor {BOX}; pass the action_space it acts in"
    for space in spaces:
        _check_head_in(head, space, samples)


def _check_head_in(head: PolicyHead, space: gym.Space, samples: int) -> None:
    torch.manual_seed(0)
    module = head.build(8, space)
    features = torch.randn(5, 8)
    distribution = module(features)
    assert distribution is not module(features), "a head must return a new distribution on every call"
    action = distribution.sample()
    for candidate in (action, distribution.mode):
        env_action = module.env_action(candidate).detach().cpu().numpy()
        for row in env_action:
            assert space.contains(np.asarray(row, dtype=space.dtype)), f"{head.name}: env action {row} outside {space}"
    if head.has_log_prob:
        log_prob = distribution.log_prob(action)
        assert log_prob.shape == (5,), f"{head.name}: log_prob must have shape [batch] = (5,), got {tuple(log_prob.shape)}"
        repeat = module(features).log_prob(action)
        module(torch.randn(7, 8))
        assert torch.allclose(repeat, module(features).log_prob(action)), f"{head.name} keeps state between calls"
        entropy = distribution.entropy()
        assert entropy.shape == (5,), f"{head.name}: entropy must have shape [batch], got {tuple(entropy.shape)}"
        draws = distribution.sample((samples,))
        negative_log_prob = -distribution.log_prob(draws)
        estimate, error = negative_log_prob.mean(0), negative_log_prob.std(0) / math.sqrt(samples)
        assert torch.all((estimate - entropy).abs() <= 5 * error + 1e-3), f"{head.name}: entropy {entropy} is not -E[log_prob] ~ {estimate}"
        loss = -(distribution.log_prob(action.detach()) * torch.randn(5)).sum() - entropy.sum()
    else:
        assert head.deterministic, f"{head.name}: a head without log_prob must be deterministic (a = mu(s))"
        loss = module(features).rsample().square().sum()
    loss.backward()
    for name, parameter in module.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), f"{head.name}: no finite gradient reaches {name}"


# --- advantages -----------------------------------------------------------------------------------


def check_advantage(advantage: Advantage | type[Advantage], seed: int = 0) -> None:
    """advantages and returns are [T, N] and finite; the inputs are not modified and no other field is
    written; a termination stops bootstrapping and a truncation bootstraps; normalize is safe for one step."""
    advantage = _instance(advantage)
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


# --- baselines ------------------------------------------------------------------------------------


def check_baseline(baseline: Baseline | type[Baseline]) -> None:
    """b(s) is [T, N] and finite, depends on no action or reward of the batch it is applied to, is
    refit by update(), and its state round-trips through state_dict."""
    baseline = _instance(baseline)
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


# --- critics ----------------------------------------------------------------------------------------


def check_critic(critic: Critic | type[Critic], network: Network | None = None) -> None:
    """The module has the shape of its kind of value; the loss is a finite scalar whose gradient
    reaches every parameter, and gradient steps fit fixed targets."""
    from pgkit.builtins.networks.mlp import MLP

    critic = _instance(critic)
    check_spec(critic)
    network = network or MLP()
    torch.manual_seed(0)
    space = BOX if critic.estimates == "action_value" else DISCRETE
    module = critic.build(network, OBSERVATIONS, space, network.build(OBSERVATIONS))
    batch = synthetic_batch(OBSERVATIONS, space).flatten()
    batch.returns = torch.randn_like(batch.rewards)
    if critic.estimates == "state_value":
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


# --- objectives -------------------------------------------------------------------------------------


class _LogitsPolicy(torch.nn.Module):
    """A one-state policy over two actions."""

    def __init__(self):
        super().__init__()
        self.logits = torch.nn.Parameter(torch.zeros(2))

    def forward(self, obs):
        return torch.distributions.Categorical(logits=self.logits.expand(obs.shape[0], 2))


def check_objective(objective: Objective | type[Objective]) -> None:
    """On a one-step bandit, a gradient step on the loss moves the policy toward the better action."""
    objective = _instance(objective)
    check_spec(objective)
    torch.manual_seed(0)
    if objective.off_policy:
        _check_deterministic_objective(objective)
        return
    policy = _LogitsPolicy()
    actions = policy(torch.zeros(512, 1)).sample()
    rewards = actions.float()  # action 1 pays 1, action 0 pays 0
    batch = Batch(
        obs=torch.zeros(512, 1), actions=actions, log_probs=policy(torch.zeros(512, 1)).log_prob(actions).detach(),
        rewards=rewards, terminated=torch.ones(512, dtype=torch.bool), truncated=torch.zeros(512, dtype=torch.bool),
        next_obs=torch.zeros(512, 1), advantages=rewards - rewards.mean(), returns=rewards,
    )
    before = torch.softmax(policy.logits, 0)[1].item()
    loss, metrics = objective.loss(policy, batch, progress=0.0)
    assert loss.dim() == 0 and torch.isfinite(loss), f"{objective.name}: the loss must be a finite scalar"
    assert all(isinstance(v, float) and math.isfinite(v) for v in metrics.values()), f"{objective.name}: metrics must be finite floats"
    loss.backward()
    with torch.no_grad():
        policy.logits -= 0.5 * policy.logits.grad
    after = torch.softmax(policy.logits, 0)[1].item()
    assert after > before, f"{objective.name}: a step did not raise the probability of the better action ({before:.3f} -> {after:.3f})"


def _check_deterministic_objective(objective: Objective) -> None:
    from pgkit.builtins.policy_heads.deterministic import Dirac

    class Constant(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.mu = torch.nn.Parameter(torch.zeros(1))

        def forward(self, obs):
            return Dirac(self.mu.expand(obs.shape[0], 1))

    class Quadratic(torch.nn.Module):  # Q(s, a) = -(a - 0.5)^2: the best action is 0.5
        def forward(self, obs, action, networks=None):
            return -(action[:, 0] - 0.5).square().unsqueeze(0)

    policy = Constant()
    batch = synthetic_batch(OBSERVATIONS, BOX).flatten()
    loss, _ = objective.loss(policy, batch, critic=Quadratic())
    loss.backward()
    with torch.no_grad():
        policy.mu -= 0.1 * policy.mu.grad
    assert 0 < policy.mu.item() <= 0.5, f"{objective.name}: a step did not move mu(s) toward argmax_a Q(s, a)"


# --- optimizers, networks, loggers, trainers -------------------------------------------------------


def check_optimizer(optimizer: Optimizer | type[Optimizer]) -> None:
    """Steps lower a quadratic; clip() returns the norm before clipping and clips to max_grad_norm;
    set_learning_rate applies the schedule."""
    optimizer = _instance(optimizer)
    check_spec(optimizer)
    weight = torch.nn.Parameter(torch.full((3,), 5.0))
    torch_optimizer = optimizer.build([weight])
    optimizer.set_learning_rate(torch_optimizer, progress=0.0)
    first = weight.square().sum().item()
    for _ in range(20):
        torch_optimizer.zero_grad()
        weight.square().sum().backward()
        norm = optimizer.clip([weight])
        if optimizer.spec.max_grad_norm is not None:
            assert weight.grad.norm().item() <= optimizer.spec.max_grad_norm + 1e-5, f"{optimizer.name}: clip() did not clip"
        assert norm > 0
        torch_optimizer.step()
    assert weight.square().sum().item() < first, f"{optimizer.name}: 20 steps did not lower sum(w^2)"
    lr = optimizer.set_learning_rate(torch_optimizer, progress=0.5)
    assert all(group["lr"] == lr for group in torch_optimizer.param_groups)
    if optimizer.elementwise:
        _check_flat_steps_match(optimizer)


def _check_flat_steps_match(optimizer: Optimizer) -> None:
    """An optimizer declared elementwise takes the same steps on parameters packed in one flat buffer
    (what trainers do with it) as on the separate tensors."""
    torch.manual_seed(0)
    shapes = [(3, 2), (2,), (4,)]
    initial = [torch.randn(shape) for shape in shapes]
    separate = [torch.nn.Parameter(t.clone()) for t in initial]
    packed = [torch.nn.Parameter(t.clone()) for t in initial]
    reference, flat = optimizer.build(separate), GradientStep(optimizer, packed)
    assert flat.flat is not None
    for step in range(5):
        targets = [torch.randn(shape) for shape in shapes]

        def loss(params: list[torch.nn.Parameter]) -> torch.Tensor:
            return sum(((p - t) ** 2).sum() * (step + 1) for p, t in zip(params, targets))

        reference.zero_grad()
        loss(separate).backward()
        optimizer.clip(separate)
        reference.step()
        flat.zero_grad()
        loss(packed).backward()
        flat.clip()
        flat.step()
    for a, b in zip(separate, packed):
        assert torch.allclose(a, b, atol=1e-6), f"{optimizer.name} is declared elementwise but steps differently on a flat buffer"


def check_network(network: Network | type[Network]) -> None:
    """The torso maps a batch of observations to [B, out_features] features with gradients."""
    network = _instance(network)
    check_spec(network)
    torso = network.build(OBSERVATIONS)
    out = torso(torch.randn(6, 4))
    assert out.shape == (6, torso.out_features), f"{network.name}: features must be [B, out_features]"
    out.sum().backward()
    assert all(p.grad is not None for p in torso.parameters()), f"{network.name}: gradients must reach every parameter"


def check_logger(logger: Logger | type[Logger], run_dir: Path | None = None) -> None:
    """start / log / close accept a run without files and, if given, a run folder."""
    logger = _instance(logger)
    check_spec(logger)
    for folder in (None, run_dir):
        logger.start(folder, total_steps=10)
        logger.log(5, {"return_mean": 1.0, "policy_loss": float("nan")})
        logger.log(10, {"return_mean": 2.0, "policy_loss": 0.5})
        logger.close()


def check_trainer(trainer: Trainer | type[Trainer]) -> None:
    """Declares the slots it needs (and may use) among the known kinds."""
    trainer = _instance(trainer)
    check_spec(trainer)
    assert trainer.required_slots, f"{trainer.name}: declare required_slots"
    unknown = (trainer.required_slots | trainer.optional_slots) - set(KINDS)
    assert not unknown, f"{trainer.name}: unknown slots {sorted(unknown)}"


CHECKS = {
    "network": check_network,
    "policy_head": check_policy_head,
    "critic": check_critic,
    "baseline": check_baseline,
    "advantage": check_advantage,
    "objective": check_objective,
    "optimizer": check_optimizer,
    "trainer": check_trainer,
    "logger": check_logger,
}


def check_component(component: Component | type[Component], **options: Any) -> None:
    """Run the contract of the component's kind."""
    CHECKS[component.kind](component, **options)



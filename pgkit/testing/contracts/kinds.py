"""The contracts of networks, loggers and trainers."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any, Callable

import gymnasium as gym
import numpy as np
import torch

from pgkit.envs import EnvSettings
from pgkit.kinds import KINDS, Callback, CallbackRun, Combination, Logger, Network, Trainer, TrainerSpec
from pgkit.data import flatten_batch, is_structured
from pgkit.nn import RecurrentTorso, Sequences
from pgkit.testing.contracts.common import DISCRETE, FRAMES, OBSERVATIONS, STRUCTURED, check_spec, check_state, instance


def check_network(network: Network | type[Network], observation_space: gym.Space | None = None) -> None:
    """The torso maps a batch of observations to [B, out_features] features with gradients (a recurrent
    torso meets ``check_memory`` instead); its ensemble maps them to [K, B, out_features] (the first ``members`` if asked) with independent members.
    ``observation_space``: where to check it; by default the first it reads of a flat Box, uint8 frames and a
    Dict of both and more (fed flat, as ``Agent.prepare`` makes them)."""
    network = instance(network)
    check_spec(network)
    check_state(network)
    known = (OBSERVATIONS, FRAMES, STRUCTURED)
    spaces = [observation_space] if observation_space is not None else [s for s in known if network.incompatibility(Combination("contract-env", s, DISCRETE, {"network": network})) is None]
    assert spaces, f"{network.name} reads none of {', '.join(map(str, known))}; pass the observation_space it reads"
    space = spaces[0]
    space.seed(0)
    def observations(count: int) -> torch.Tensor:
        samples = [space.sample() for _ in range(count)]
        return torch.as_tensor(flatten_batch(space, samples) if is_structured(space) else np.stack(samples))

    torso = network.build(space)
    if isinstance(torso, RecurrentTorso):
        check_memory(network.name, torso, observations)
        return
    out = torso(observations(6))
    assert out.shape == (6, torso.out_features), f"{network.name}: features must be [B, out_features]"
    out.sum().backward()
    assert all(p.grad is not None for p in torso.parameters()), f"{network.name}: gradients must reach every parameter"
    ensemble = network.build_ensemble(space, 3)
    x = observations(6)
    features = ensemble(x)
    assert features.shape == (3, 6, ensemble.out_features), f"{network.name}: an ensemble's features must be [K, B, out_features]"
    # equal up to rounding: a batched matmul over 1 member and over 3 may take different CPU kernels
    assert torch.allclose(ensemble(x, members=1), features[:1], rtol=1e-5, atol=1e-6), f"{network.name}: members=1 must give the first member's features"
    assert not torch.equal(features[0], features[1]), f"{network.name}: ensemble members must be initialized independently"
    features.sum().backward()
    assert all(p.grad is not None for p in ensemble.parameters()), f"{network.name}: gradients must reach every ensemble parameter"


def check_memory(name: str, torso: RecurrentTorso, observations: Callable[[int], torch.Tensor], steps: int = 5, columns: int = 3) -> None:
    """A recurrent torso's contract: rows read as ``steps`` time-major steps of ``columns`` sequences give
    [T * M, out_features] features and a [M, state_size] final state; stepping one observation at a time
    (the state carried) gives the same; the state is zeroed at an episode start (what it was does not
    matter there) and read elsewhere (it does); gradients reach every parameter."""
    torch.manual_seed(0)
    obs = observations(steps * columns)
    rows = obs.view(steps, columns, *obs.shape[1:])
    starts = torch.zeros(steps, columns, dtype=torch.bool)
    starts[0, 0] = starts[2, 1] = True
    state = torch.randn(columns, torso.state_size)

    def run(state: torch.Tensor, starts: torch.Tensor, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        torso.sequences = Sequences(state, starts)
        try:
            return torso(obs), torso.sequences.final
        finally:
            torso.sequences = None

    features, final = run(state, starts, obs)
    assert features.shape == (steps * columns, torso.out_features), f"{name}: features must be [T * M, out_features]"
    assert final is not None and final.shape == (columns, torso.state_size), f"{name}: the final state must be [M, state_size]"
    carried, stepped = state, []
    for t in range(steps):
        out, carried = run(carried, starts[t : t + 1], rows[t])
        stepped.append(out)
    assert torch.allclose(torch.cat(stepped), features, atol=1e-5), f"{name}: stepping one observation at a time must give the sequence's features"
    assert torch.allclose(carried, final, atol=1e-5), f"{name}: stepping must end in the sequence's final state"
    everywhere = torch.ones(1, columns, dtype=torch.bool)
    assert torch.allclose(run(torch.randn_like(state), everywhere, rows[0])[0], run(torch.zeros_like(state), everywhere, rows[0])[0]), (
        f"{name}: the state must be zeroed at an episode start")
    nowhere = torch.zeros(1, columns, dtype=torch.bool)
    assert not torch.allclose(run(torch.randn_like(state), nowhere, rows[0])[0], run(torch.zeros_like(state), nowhere, rows[0])[0]), (
        f"{name}: the features must depend on the state")
    features.sum().backward()
    assert all(p.grad is not None for p in torso.parameters()), f"{name}: gradients must reach every parameter"


def check_logger(logger: Logger | type[Logger], run_dir: Path | None = None) -> None:
    """start / log / close accept a run without files and, if given, a run folder."""
    logger = instance(logger)
    check_spec(logger)
    for folder in (None, run_dir):
        logger.start(folder, total_steps=10)
        logger.log(5, {"return_mean": 1.0, "policy_loss": float("nan")})
        logger.log(10, {"return_mean": 2.0, "policy_loss": 0.5})
        logger.close()


def check_callback(callback: Callback | type[Callback], run_dir: Path | None = None) -> None:
    """Declares its metric names as strings; start / close accept a run without files and, if given, a
    run folder; its state round-trips (``check_state``)."""
    callback = instance(callback)
    check_spec(callback)
    check_state(callback)
    names = callback.metric_names()
    assert isinstance(names, tuple) and all(isinstance(n, str) for n in names), f"{callback.name}: metric_names() must be a tuple of str"
    for folder in (None, run_dir):
        callback.start(CallbackRun(folder, {}, EnvSettings(id="CartPole-v1"), total_steps=10))
        callback.close()


def check_trainer(
    trainer: Trainer | type[Trainer], recipe: dict[str, Any] | str | Path | None = None, overrides: list[str] | None = None
) -> None:
    """Declares the slots it needs (and may use) among the known kinds, and its Spec extends TrainerSpec.
    With ``recipe`` (a small recipe that uses it, with ``key=value`` overrides), runs stopped by SIGINT
    and by SIGTERM resume bit-exactly (``check_resume``)."""
    from pgkit.testing.resume import check_resume

    trainer = instance(trainer)
    check_spec(trainer)
    check_state(trainer)
    assert issubclass(trainer.Spec, TrainerSpec), f"{trainer.name}: its Spec must extend pgkit.kinds.TrainerSpec"
    assert trainer.required_slots, f"{trainer.name}: declare required_slots"
    unknown = (trainer.required_slots | trainer.optional_slots) - set(KINDS)
    assert not unknown, f"{trainer.name}: unknown slots {sorted(unknown)}"
    if recipe is not None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            check_resume(recipe, overrides=overrides, signum=signum)

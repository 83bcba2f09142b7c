"""Every combination of registered components: accepted ones train for a few updates, rejected ones
get a CompatibilityError with a message, and nothing else is ever raised."""

from __future__ import annotations

import itertools
import math

import pytest

from pgkit.compatibility import check_compatibility
from pgkit.errors import CompatibilityError
from pgkit.kinds import KINDS
from pgkit.recipe import resolve
from pgkit.registry import build_registry
from pgkit.training import train

ENVS = ["CartPole-v1", "Pendulum-v1"]  # one Discrete and one Box action space
VARIED = [kind for kind in KINDS if kind not in ("logger", "trainer")]
REGISTRY = build_registry(entry_points=False)


def all_combinations():
    options = [[r.name for r in REGISTRY.of_kind(kind)] + ([None] if kind == "critic" else []) for kind in VARIED]
    for env in ENVS:
        for names in itertools.product(*options):
            yield env, dict(zip(VARIED, names))


COMBINATIONS = list(all_combinations())


def recipe_for(env: str, names: dict):
    document = {
        "env": {"id": env, "num_envs": 2},
        "trainer": {"type": "on_policy", "total_steps": 32, "steps_per_env": 8},
        "logger": [],
        **{slot: name for slot, name in names.items() if name is not None},
    }
    return resolve(document, REGISTRY, source="combination")


@pytest.mark.parametrize("env, names", COMBINATIONS, ids=lambda v: v if isinstance(v, str) else "-".join(str(n) for n in v.values()))
def test_combination_trains_or_is_rejected_with_a_message(env, names):
    recipe = recipe_for(env, names)
    try:
        check_compatibility(recipe, REGISTRY)
    except CompatibilityError as exc:
        assert exc.problems and all(p.message and p.path in KINDS for p in exc.problems)
        return
    _, run = train(recipe, run_dir=None, registry=REGISTRY)
    assert run.last_metrics["steps"] == 32
    assert math.isfinite(run.last_metrics["policy_loss"])


def test_both_outcomes_occur():
    accepted = 0
    for env, names in COMBINATIONS:
        try:
            check_compatibility(recipe_for(env, names), REGISTRY)
            accepted += 1
        except CompatibilityError:
            pass
    assert 0 < accepted < len(COMBINATIONS)

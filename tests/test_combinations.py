"""Every combination of registered components: accepted ones train for a few updates, rejected ones
get a CompatibilityError with a message, and nothing else is ever raised."""

from __future__ import annotations

import itertools
import math

import pytest

from pgkit.recipe.compatibility import check_compatibility
from pgkit.errors import CompatibilityError
from pgkit.kinds import KINDS
from pgkit.recipe import resolve
from pgkit.plugins.registry import build_registry
from pgkit.runtime.training import train

ENVS = ["CartPole-v1", "Pendulum-v1"]  # one Discrete and one Box action space
REGISTRY = build_registry(entry_points=False)
SMALL = {  # a few updates' worth of each trainer
    "on_policy": {"total_steps": 32, "steps_per_env": 8},
    "off_policy": {"total_steps": 32, "learning_starts": 8, "batch_size": 8, "buffer_size": 64, "log_every": 16, "sequence_length": 4, "burn_in": 2},
}


def all_combinations():
    """Per trainer, the product of every registered component over the slots that trainer uses."""
    for trainer in REGISTRY.of_kind("trainer"):
        slots = sorted((trainer.cls.required_slots | trainer.cls.optional_slots) - {"logger"})
        options = [
            [r.name for r in REGISTRY.of_kind(slot)] + ([None] if slot in trainer.cls.optional_slots else [])
            for slot in slots
        ]
        for env in ENVS:
            for names in itertools.product(*options):
                yield env, {"trainer": trainer.name, **dict(zip(slots, names))}


COMBINATIONS = list(all_combinations())


def recipe_for(env: str, names: dict):
    document = {
        "env": {"id": env, "num_envs": 2},
        "logger": [],
        **{slot: name for slot, name in names.items() if name is not None},
        "trainer": {"type": names["trainer"], **SMALL[names["trainer"]]},
    }
    return resolve(document, REGISTRY, source="combination")


GROUPS = sorted({(env, names["trainer"], names["policy_head"]) for env, names in COMBINATIONS})


@pytest.mark.parametrize("env, trainer, head", GROUPS, ids=lambda v: str(v))
def test_every_combination_trains_or_is_rejected_with_a_message(env, trainer, head):
    """One test per env, trainer and policy head (pytest's overhead per item once cost more than the checks)
    over every combination of the other slots; the failures are listed together."""
    failures = []
    for combo_env, names in COMBINATIONS:
        if (combo_env, names["trainer"], names["policy_head"]) != (env, trainer, head):
            continue
        label = "-".join(str(n) for n in names.values())
        recipe = recipe_for(env, names)
        try:
            check_compatibility(recipe, REGISTRY)
        except CompatibilityError as exc:
            if not (exc.problems and all(p.message and p.path in KINDS for p in exc.problems)):
                failures.append(f"{label}: rejected without a message per slot: {exc}")
            continue
        _, run = train(recipe, run_dir=None, registry=REGISTRY)
        metrics = run.last_metrics
        if not (metrics["steps"] == 32 and math.isfinite(metrics["policy_loss"]) and math.isfinite(metrics.get("value_loss", 0.0))):
            failures.append(f"{label}: trained to {metrics}")
    assert not failures, "\n".join(failures[:20])


def test_both_outcomes_occur_for_every_trainer():
    accepted = {trainer.name: 0 for trainer in REGISTRY.of_kind("trainer")}
    rejected = dict.fromkeys(accepted, 0)
    for env, names in COMBINATIONS:
        trainer = names["trainer"]
        if accepted[trainer] and rejected[trainer]:
            continue
        try:
            check_compatibility(recipe_for(env, names), REGISTRY)
            accepted[trainer] += 1
        except CompatibilityError:
            rejected[trainer] += 1
    assert all(accepted[t] and rejected[t] for t in accepted), (accepted, rejected)

"""Every registered built-in component (loggers aside) is in at least one recipe that check_resume runs:
stopped by a signal and resumed, the run ends bit-identical to an uninterrupted one. The recipes are
built here from the registry, so a new built-in is covered without editing this file."""

from __future__ import annotations

import pytest

from pgkit.errors import CompatibilityError
from pgkit.kinds import KINDS
from pgkit.plugins.registry import build_registry
from pgkit.recipe import resolve
from pgkit.recipe.compatibility import check_compatibility
from pgkit.testing import check_resume

REGISTRY = build_registry(entry_points=False)
STARTS = [  # a component is tried in these, in order, with the other slots repaired to fit
    {"env": {"id": "CartPole-v1", "num_envs": 2}, "trainer": {"type": "on_policy", "total_steps": 512, "steps_per_env": 32, "epochs": 2, "minibatch_size": 32},
     "policy_head": "categorical", "critic": "value", "baseline": "critic", "advantage": "discounted_reward_to_go", "objective": "ppo_clip", "optimizer": "adam"},
    {"env": {"id": "Pendulum-v1", "num_envs": 2}, "trainer": {"type": "on_policy", "total_steps": 512, "steps_per_env": 32},
     "policy_head": "gaussian", "critic": "value", "baseline": "critic", "advantage": "discounted_reward_to_go", "objective": "reinforce", "optimizer": "adam"},
    {"env": {"id": "pgkit-test/Frames-v0", "num_envs": 2}, "trainer": {"type": "on_policy", "total_steps": 512, "steps_per_env": 32},
     "network": "cnn", "policy_head": "categorical", "critic": "value", "baseline": "critic", "advantage": "gae", "objective": "ppo_clip",
     "optimizer": "adam"},
    {"env": {"id": "pgkit-test/Buttons-v0", "num_envs": 2}, "trainer": {"type": "on_policy", "total_steps": 512, "steps_per_env": 32},
     "policy_head": "bernoulli", "critic": "value", "baseline": "critic", "advantage": "gae", "objective": "ppo_clip", "optimizer": "adam"},
    {"env": {"id": "pgkit-test/Dials-v0", "num_envs": 2}, "trainer": {"type": "on_policy", "total_steps": 512, "steps_per_env": 32},
     "policy_head": "multi_categorical", "critic": "value", "baseline": "critic", "advantage": "gae", "objective": "ppo_clip", "optimizer": "adam"},
    {"env": {"id": "Pendulum-v1"}, "trainer": {"type": "off_policy", "total_steps": 200, "learning_starts": 32, "batch_size": 32, "buffer_size": 500, "log_every": 20},
     "policy_head": "deterministic", "critic": "twin_q", "objective": "dpg", "optimizer": "adam"},
]


def problems(document: dict) -> int:
    try:
        check_compatibility(resolve(document, REGISTRY, source="resume-contract"), REGISTRY)
    except CompatibilityError as exc:
        return len(exc.problems)
    return 0


def fitting_recipe(kind: str, name: str, covered: set[tuple[str, str]]) -> dict | None:
    """A start with ``name`` in its ``kind`` slot, other slots swapped one at a time for registered
    components (uncovered ones first) while that lowers the number of problems; None if none fits."""
    for start in STARTS:
        document = {**start, kind: {**start[kind], "type": name} if kind == "trainer" else name, "logger": []}
        count = problems(document)
        while count:
            swaps = [
                {**document, slot: alternative.name}
                for slot in KINDS if slot not in (kind, "trainer", "logger") and slot in document
                for alternative in sorted(REGISTRY.of_kind(slot), key=lambda r: (slot, r.name) in covered)
            ]
            better = next((swap for swap in swaps if problems(swap) < count), None)
            if better is None:
                break
            document, count = better, problems(better)
        if count == 0:
            return document
    return None


def covering_recipes() -> list[dict]:
    covered: set[tuple[str, str]] = set()
    recipes = []
    for kind in KINDS:
        if kind == "logger":
            continue
        for registration in REGISTRY.of_kind(kind):
            if (kind, registration.name) in covered:
                continue
            document = fitting_recipe(kind, registration.name, covered)
            assert document is not None, f"no recipe fits {kind} '{registration.name}'"
            recipes.append(document)
            covered |= {(slot, value if isinstance(value, str) else value["type"]) for slot, value in document.items() if slot in KINDS and value}
    return recipes


RECIPES = covering_recipes()


@pytest.mark.parametrize("document", RECIPES, ids=lambda d: "-".join(v if isinstance(v, str) else v["type"] for k, v in d.items() if k in KINDS and v))
def test_resumes_bit_exactly(document, tmp_path):
    check_resume(document, REGISTRY, workdir=tmp_path)


def test_every_builtin_is_covered():
    covered = {(slot, value if isinstance(value, str) else value["type"]) for document in RECIPES for slot, value in document.items() if slot in KINDS and value}
    expected = {(kind, r.name) for kind in KINDS if kind != "logger" for r in REGISTRY.of_kind(kind)}
    assert expected <= covered, expected - covered

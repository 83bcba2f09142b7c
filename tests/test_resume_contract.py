"""Every registered built-in component (loggers aside) is in at least one recipe that check_resume runs:
stopped by a signal and resumed, the run ends bit-identical to an uninterrupted one. The recipes of the
slots' components are built here from the registry, so a new built-in is covered without editing this
file; env wrappers are chained in the pipelines of WRAPPED (the test of coverage names a missing one)."""

from __future__ import annotations

import pytest

from pgkit.errors import CompatibilityError, RecipeError
from pgkit.kinds import SLOTS
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
    {"env": {"id": "pgkit-test/CueNested-v0", "num_envs": 2}, "trainer": {"type": "on_policy", "total_steps": 512, "steps_per_env": 32},
     "network": "multi_input", "policy_head": "categorical", "critic": "value", "baseline": "critic", "advantage": "gae", "objective": "ppo_clip",
     "optimizer": "adam"},
    {"env": {"id": "pgkit-test/Buttons-v0", "num_envs": 2}, "trainer": {"type": "on_policy", "total_steps": 512, "steps_per_env": 32},
     "policy_head": "bernoulli", "critic": "value", "baseline": "critic", "advantage": "gae", "objective": "ppo_clip", "optimizer": "adam"},
    {"env": {"id": "pgkit-test/Dials-v0", "num_envs": 2}, "trainer": {"type": "on_policy", "total_steps": 512, "steps_per_env": 32},
     "policy_head": "multi_categorical", "critic": "value", "baseline": "critic", "advantage": "gae", "objective": "ppo_clip", "optimizer": "adam"},
    {"env": {"id": "pgkit/Platform-v0", "num_envs": 2}, "trainer": {"type": "on_policy", "total_steps": 512, "steps_per_env": 32},
     "policy_head": "composite", "critic": "value", "baseline": "critic", "advantage": "gae", "objective": "ppo_clip", "optimizer": "adam"},
    {"env": {"id": "Pendulum-v1"}, "trainer": {"type": "off_policy", "total_steps": 200, "learning_starts": 32, "batch_size": 32, "buffer_size": 500, "log_every": 20},
     "policy_head": "deterministic", "critic": "twin_q", "objective": "dpg", "optimizer": "adam"},
    {"env": {"id": "CartPole-v1", "num_envs": 2}, "trainer": {"type": "off_policy", "total_steps": 200, "learning_starts": 32, "batch_size": 32,
     "buffer_size": 500, "log_every": 20, "target_policy": False}, "policy_head": "categorical", "critic": "twin_discrete_q",
     "objective": "discrete_sac", "optimizer": "adam"},
    {"env": {"id": "pgkit/PointReach-v0", "num_envs": 2}, "trainer": {"type": "off_policy", "total_steps": 200, "learning_starts": 32, "batch_size": 32,
     "buffer_size": 500, "log_every": 20, "target_policy": False}, "policy_head": "squashed_gaussian", "critic": "twin_q", "objective": "sac",
     "optimizer": "adam"},
]


ON_POLICY = {"trainer": {"type": "on_policy", "total_steps": 512, "steps_per_env": 32}, "critic": "value", "advantage": "gae",
             "objective": "ppo_clip", "optimizer": "adam", "logger": []}
WRAPPED = [  # every env wrapper, in pipelines whose state (stacked frames, sticky actions, time limits) must resume exactly
    {**ON_POLICY, "env": {"id": "CartPole-v1", "num_envs": 2, "wrappers": [
        {"type": "select", "indices": [0, 1, 2]}, {"type": "time_limit", "max_episode_steps": 40}, {"type": "sticky_action", "probability": 0.3},
        {"type": "clip_reward", "min": 0, "max": 0.5}, {"type": "scale_reward", "scale": 2}, {"type": "frame_stack", "stack_size": 3},
        {"type": "reshape", "shape": [9]}]}, "policy_head": "categorical"},
    {**ON_POLICY, "env": {"id": "Pendulum-v1", "num_envs": 2, "wrappers": [{"type": "rescale_action", "low": -2, "high": 2}, "clip_action"]},
     "policy_head": "gaussian"},
    {**ON_POLICY, "env": {"id": "pgkit-test/CueNested-v0", "num_envs": 2, "wrappers": [{"type": "filter", "keys": ["more"]}, "flatten"]},
     "policy_head": "categorical"},
    {**ON_POLICY, "env": {"id": "pgkit-test/Screen-v0", "num_envs": 2, "wrappers": [
        "grayscale", {"type": "resize", "shape": [36, 36]}, {"type": "frame_stack", "stack_size": 2}]},
     "network": {"type": "cnn", "layers": [[8, 4, 2]], "features": 32}, "policy_head": "categorical"},
    {**ON_POLICY, "env": {"id": "Taxi-v4", "num_envs": 2, "wrappers": [{"type": "action_mask", "source": "info"}]}, "policy_head": "categorical"},
    {**ON_POLICY, "env": {"id": "pgkit/BoardGame-v0", "num_envs": 2, "kwargs": {"game": "tictactoe"}}, "policy_head": "categorical"},
    {**ON_POLICY, "env": {"id": "minigrid:MiniGrid-GoToDoor-5x5-v0", "num_envs": 2, "wrappers": [{"type": "text_tokens", "key": "mission"}]},
     "policy_head": "categorical"},
]


def problems(document: dict) -> int:
    try:
        check_compatibility(resolve(document, REGISTRY, source="resume-contract"), REGISTRY)
    except (CompatibilityError, RecipeError) as exc:  # RecipeError: a slot this trainer does not use
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
                for slot in SLOTS if slot not in (kind, "trainer", "logger") and slot in document
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
    for kind in SLOTS:
        if kind == "logger":
            continue
        for registration in REGISTRY.of_kind(kind):
            if (kind, registration.name) in covered:
                continue
            document = fitting_recipe(kind, registration.name, covered)
            assert document is not None, f"no recipe fits {kind} '{registration.name}'"
            recipes.append(document)
            covered |= components(document)
    return recipes


def components(document: dict) -> set[tuple[str, str]]:
    """(kind, name) of every component a recipe chooses, its env wrappers included."""
    named = lambda value: value if isinstance(value, str) else value["type"]  # noqa: E731
    chosen = {(slot, named(value)) for slot, value in document.items() if slot in SLOTS and value and not isinstance(value, list)}
    return chosen | {("env_wrapper", named(wrapper)) for wrapper in document["env"].get("wrappers", [])}


RECIPES = covering_recipes()


@pytest.mark.parametrize("document", RECIPES + WRAPPED, ids=lambda d: "-".join(sorted(name for _, name in components(d))))
def test_resumes_bit_exactly(document, tmp_path):
    check_resume(document, REGISTRY, workdir=tmp_path)


def test_every_builtin_is_covered():
    """atari_preprocessing reads only ALE's envs, whose state does not pickle: test_faults checks that such
    envs resume from fresh resets and say so."""
    covered = set().union(*map(components, RECIPES + WRAPPED)) | {("env_wrapper", "atari_preprocessing")}
    expected = {(kind, r.name) for kind in [*SLOTS, "env_wrapper"] if kind != "logger" for r in REGISTRY.of_kind(kind)}
    assert expected <= covered, expected - covered

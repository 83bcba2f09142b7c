"""Checking that a recipe's components fit each other and the environment, before anything is built.

``Combination.incompatibility`` decides (capabilities, then each component's own check); this module
asks it for every chosen component and, for each failure, lists the registered components of that
slot that would fit and the registered components that provide what is missing. A combination that
fits but computes something else (``Component.caution``) is a RecipeWarning."""

from __future__ import annotations

import warnings
from typing import Callable, TypeVar

import gymnasium as gym
import torch

from pgkit.data import unsupported_part
from pgkit.envs.action_masks import carries_mask, mask_space_problem
from pgkit.envs.making import probe_spaces
from pgkit.envs.pettingzoo_making import takes_turns
from pgkit.envs.settings import GROUP_SLOTS
from pgkit.errors import CompatibilityError, PluginWarning, Problem, RecipeWarning
from pgkit.kinds.capabilities import ACTION_MASKS, OWN_POLICY_STEP, REPLAYED_TRANSITIONS, REWARD_SCALING, SEQUENCES, WHOLE_EPISODES, Capability
from pgkit.kinds.combination import Combination
from pgkit.kinds.component import Component
from pgkit.plugins.registry import Registry
from pgkit.recipe.recipe import Recipe


def combination(recipe: Recipe, components: dict) -> Combination:
    """``components`` (from ``recipe.instantiate()``) on the recipe's environment; raises
    CompatibilityError if the env cannot be made."""
    spaces = probe_spaces(recipe.settings.env)
    if isinstance(spaces, Problem):
        raise CompatibilityError(recipe.source, [spaces])
    single = {slot: value for slot, value in components.items() if not isinstance(value, list)}
    return Combination(recipe.settings.env.id, spaces[0], spaces[1], single, recipe.settings.env.normalize.obs)


def check_compatibility(recipe: Recipe, registry: Registry) -> Combination:
    """The recipe's Combination if every component fits; otherwise a CompatibilityError with all failures."""
    device = device_problem(recipe.settings.device)
    if device is not None:
        raise CompatibilityError(recipe.source, [device])
    components = recipe.instantiate()
    combo = combination(recipe, components)
    unreadable = observation_problem(combo) or action_mask_problem(combo, recipe.settings.env.action_mask, registry)
    if unreadable is not None:
        raise CompatibilityError(recipe.source, [unreadable])
    problems = []
    for slot, value in components.items():
        for index, component in enumerate(value if isinstance(value, list) else [value]):
            if component is None:
                continue
            path = f"{slot}[{index}]" if isinstance(value, list) else slot
            plugin = component.plugin
            origin = f" (plugin {plugin.name} {plugin.version})" if plugin else ""
            try:
                reason = combo.with_component(slot, component).incompatibility(slot)
            except Exception as exc:  # a broken plugin's check: report it, with the component's name
                problems.append(Problem(path, f"'{component.name}'{origin} failed its compatibility check: {type(exc).__name__}: {exc}", "report this to the plugin's authors, or choose another component"))
                continue
            if reason is not None:
                problems.append(Problem(path, f"'{component.name}'{origin} {reason}", _fix(slot, component, combo, registry)))
    problems += group_problems(recipe, combo, registry)
    turns = turn_based_problem(recipe, combo)
    if turns is not None:
        problems.append(turns)
    if problems:
        raise CompatibilityError(recipe.source, problems)
    if recipe.settings.env.normalize.reward and REWARD_SCALING not in combo.provided():  # every part's provides works, checked above
        raise CompatibilityError(recipe.source, [Problem(
            "env.normalize.reward", f"trainer '{combo.get('trainer').name}' does not scale rewards, so this setting would be ignored",
            f"set env.normalize.reward: false; {REWARD_SCALING.name} is provided by {', '.join(providers_of(REWARD_SCALING, registry))}",
        )])
    for slot, component in combo.components.items():
        if component is not None and (reason := _guarded(component, lambda c: c.caution(combo), None)) is not None:
            warnings.warn(RecipeWarning(f"{recipe.source}: {slot}: '{component.name}' {reason}"), stacklevel=2)
    return combo


def group_problems(recipe: Recipe, combo: Combination, registry: Registry) -> list[Problem]:
    """Why a policy group's own components (env.agents.groups.NAME.network, .policy_head, .critic, .optimizer) do not fit, checked as the
    recipe's own would be in their slots."""
    agents = recipe.settings.env.agents
    problems = []
    for name, group in (agents.groups if agents is not None and agents.groups else {}).items():
        for slot in GROUP_SLOTS:
            component = getattr(group, slot, None)
            if component is None:
                continue
            reason = _guarded(component, lambda c: combo.with_component(slot, c).incompatibility(slot), None)
            if reason is None and slot == "critic":
                reason = _group_critic_problem(component, combo.get("critic"))
            if reason is None and slot == "objective":
                reason = _group_objective_problem(component, combo.get("objective"))
            if reason is not None:
                problems.append(Problem(f"env.agents.groups.{name}.{slot}", f"'{component.name}' {reason}", _fix(slot, component, combo, registry)))
    return problems


def _group_critic_problem(critic: Component, recipe_critic: Component | None) -> str | None:
    """Why a group's own critic cannot stand in for the recipe's for its agents, or None."""
    if recipe_critic is None:
        return "is a group's own critic, but the recipe has none: set the recipe's critic (the other groups' one)"
    lacking = sorted(c.name for c in recipe_critic.provides - critic.provides)
    if lacking:
        return f"does not provide {', '.join(lacking)}, which the recipe's critic '{recipe_critic.name}' provides to the other components"
    return None


def _group_objective_problem(objective: Component, recipe_objective: Component) -> str | None:
    """Why a group's own objective cannot score its rows beside the recipe's for the other groups, or None."""
    if REPLAYED_TRANSITIONS in objective.requires | recipe_objective.requires:
        return "is a group's own objective, which only the on-policy trainer routes by group; use one objective for all groups"
    if (OWN_POLICY_STEP in objective.provides) != (OWN_POLICY_STEP in recipe_objective.provides):
        kinds = {True: "takes its own policy step (a trust region)", False: "gives a loss for gradient steps"}
        return (f"{kinds[OWN_POLICY_STEP in objective.provides]}, but the recipe's '{recipe_objective.name}' "
                f"{kinds[OWN_POLICY_STEP in recipe_objective.provides]}: every group's objective must do the same")
    return None


def turn_based_problem(recipe: Recipe, combo: Combination) -> Problem | None:
    """Why a turn-based game's batches of each agent's turns (``pgkit.runtime.turns``) cannot feed this recipe: they are
    not yet replayed transitions, recurrent sequences or whole episodes; None if they can (or the env takes no turns)."""
    network, trainer = combo.get("network"), combo.get("trainer")
    needs = [(path, what, fix) for path, what, fix, needed in (
        ("trainer", "an off-policy trainer's replayed transitions", "use an on-policy trainer",
         trainer is not None and REPLAYED_TRANSITIONS in trainer.provides),
        ("network", "a recurrent network's sequences", "use a feed-forward network", network is not None and SEQUENCES in network.requires),
        ("trainer.complete_episodes", "whole episodes", "set trainer.complete_episodes: false", trainer is not None and WHOLE_EPISODES in trainer.provides),
    ) if needed]
    if not needs or not takes_turns(recipe.settings.env):
        return None
    path, what, fix = needs[0]
    return Problem(path, f"{recipe.settings.env.id} takes turns, and its batches of each agent's turns cannot yet be {what}", fix)


def observation_problem(combo: Combination) -> Problem | None:
    """Why the env's observations cannot be held in a batch, whatever the network (a Text, Graph or Sequence
    part: no fixed shape), with the wrapper that keeps the parts that can; None if they can."""
    space = combo.observation_space
    part = unsupported_part(space)
    if part is None:
        return None
    entries = space.spaces.items() if isinstance(space, gym.spaces.Dict) else []
    readable = [key for key, sub in entries if unsupported_part(sub) is None]
    texts = [key for key, sub in entries if isinstance(sub, gym.spaces.Text) or hasattr(sub, "mission_func")]  # gymnasium's, MiniGrid's
    fix = (f"keep the parts that have one with env.wrappers: [{{type: filter, keys: [{', '.join(map(str, readable))}]}}]" if readable
           else "turn it into a Box, Discrete, MultiDiscrete or MultiBinary space (or a Dict or Tuple of them) with an env wrapper")
    if len(texts) == 1 and len(entries) - len(readable) == 1:  # only a text part stands in the way: it can be read as words too
        fix += f", or read the text as word indices with env.wrappers: [{{type: text_tokens, key: {texts[0]}}}]"
    return Problem("env", f"'{combo.env_id}' has {part}, which has no fixed shape, so no batch can hold it", fix)


def action_mask_problem(combo: Combination, key: str | None, registry: Registry) -> Problem | None:
    """Why the action mask the env's observations carry under ``key`` cannot be honoured (its shape, or a head
    that cannot mask), or None (also where they carry none)."""
    if not carries_mask(combo.observation_space, key):
        return None
    unmaskable = mask_space_problem(combo.observation_space, combo.action_space, key)
    if unmaskable is not None:
        return Problem("env.action_mask", f"'{combo.env_id}': {unmaskable}", "set env.action_mask to the key of the mask, or null to read that entry as features only")
    head = combo.get("policy_head")
    if head is not None and ACTION_MASKS not in head.provides:
        return Problem("policy_head", f"'{head.name}' cannot mask actions, but the observations of '{combo.env_id}' carry an action mask under '{key}'",
                       f"use a head that masks ({', '.join(providers_of(ACTION_MASKS, registry))}), or set env.action_mask: null to act without it")
    return None


def device_problem(device: str) -> Problem | None:
    """Why torch cannot use ``device`` on this machine, or None."""
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            return Problem("device", f"'{device}': CUDA is not available here (torch {torch.__version__}, no usable GPU)", "use device: cpu, or auto (cuda where there is one)")
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            return Problem("device", f"'{device}': this machine has {torch.cuda.device_count()} CUDA device(s)", f"use cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    if device == "mps" and not torch.backends.mps.is_available():
        return Problem("device", "'mps': Apple's Metal backend is not available here", "use device: cpu or auto")
    return None


Result = TypeVar("Result")


def _guarded(component: Component, ask: Callable[[Component], Result], otherwise: Result) -> Result:
    """``ask(component)``, or ``otherwise`` with a PluginWarning if the component's own code raises:
    a broken plugin must not break checks of recipes that do not use it."""
    try:
        return ask(component)
    except Exception as exc:
        warnings.warn(PluginWarning(f"{component.kind} '{component.name}' raised {type(exc).__name__} when asked about compatibility and is skipped: {exc}"), stacklevel=2)
        return otherwise


def _fix(slot: str, component: Component, combo: Combination, registry: Registry) -> str:
    fits = fitting_alternatives(slot, combo, registry)
    fix = f"registered {slot}s that fit: {', '.join(fits)}" if fits else f"no registered {slot} fits this combination"
    for capability in sorted(combo.with_component(slot, component).missing(slot), key=lambda c: c.name):
        providers = providers_of(capability, registry)
        if providers:
            fix += f"; {capability.name} is provided by {', '.join(providers)}"
    return fix


def fitting_alternatives(slot: str, combo: Combination, registry: Registry) -> list[str]:
    """Registered components of ``slot``'s kind that, with default parameters, fit ``combo`` in that slot
    without breaking a component that fitted before."""
    fits = []
    for registration in registry.of_kind(slot):
        candidate = _with_defaults(registration.cls)
        if candidate is None:
            continue
        trial = combo.with_component(slot, candidate)
        if _guarded(candidate, lambda _: trial.incompatibility(slot) is None and not _newly_broken(combo, trial, slot), False):
            fits.append(registration.name)
    return fits


def providers_of(capability: Capability, registry: Registry) -> list[str]:
    """``kind 'name'`` of every registered component that provides ``capability`` with default parameters."""
    found = []
    for kind in registry.kinds():
        for registration in registry.of_kind(kind):
            candidate = _with_defaults(registration.cls)
            if candidate is not None and _guarded(candidate, lambda c: capability in c.provides, False):
                found.append(f"{kind} '{registration.name}'")
    return found


def _newly_broken(before: Combination, after: Combination, changed: str) -> bool:
    """Does swapping ``changed`` break another component that fitted before?"""
    return any(
        before.incompatibility(slot) is None and after.incompatibility(slot) is not None
        for slot, component in after.components.items()
        if slot != changed and component is not None
    )


def _with_defaults(cls: type[Component]) -> Component | None:
    try:
        return cls()
    except Exception:  # a component whose spec has required fields has no default form
        return None

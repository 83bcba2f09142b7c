"""Making environments from a recipe's ``env`` settings.

Vector envs use gymnasium's SAME_STEP autoreset: the step that ends an episode returns the next
episode's first observation and puts the true final observation in ``info["final_obs"]``, so every
transition of a ``[T, N]`` batch is real (NEXT_STEP autoreset would insert a dead transition).
"""

from __future__ import annotations

import difflib
import importlib
from typing import Callable

import gymnasium as gym
import numpy as np
from gymnasium.envs.registration import EnvSpec
from gymnasium.vector import AutoresetMode

from pgkit.envs.pettingzoo_making import EnvModuleError, env_module_maker, make_agent_columns
from pgkit.envs.native import make_envpool_env, make_native_vector_env, native_refusal
from pgkit.envs.settings import NATIVE, EnvSettings
from pgkit.errors import PgkitError, Problem


class EnvPipelineError(PgkitError):
    """A wrapper of ``env.wrappers`` could not wrap the env it was given (``index`` says which)."""

    def __init__(self, index: int, step: object, exc: BaseException):
        self.index = index
        self.problem = Problem(f"env.wrappers[{index}]", f"{step.entry()['type']} cannot wrap this env: {type(exc).__name__}: {exc}",  # type: ignore[attr-defined]
                               "check the wrappers' order (the first is innermost) and what each reads")
        super().__init__(str(self.problem))


def env_source(settings: EnvSettings) -> str | EnvSpec:
    """What gymnasium makes the envs from: the id (after importing ``env.modules``), or a spec of the
    entry point. Raises ImportError for a module that is not installed."""
    for module in settings.modules:
        importlib.import_module(module)
    if settings.entry_point is None:
        return settings.id
    return EnvSpec(id=settings.id, entry_point=settings.entry_point)


def make_env(settings: EnvSettings, render_mode: str | None = None) -> gym.Env:
    """One env of the recipe, wrapped as ``env.wrappers`` say (a multi-agent env is made as a vector env of its agents
    by ``make_vector_env`` only)."""
    if settings.agents is not None:
        raise PgkitError(f"{settings.id} is a multi-agent env (env.agents): it is made with make_vector_env, one column per agent")
    if settings.vectorization == "envpool":
        return make_envpool_env(settings, render_mode)
    kwargs = dict(settings.kwargs)
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    env = gym.make(env_source(settings), **kwargs)
    for index, wrap in enumerate(settings.pipeline()):
        try:
            env = wrap(env)
        except Exception as exc:
            env.close()
            if index >= len(settings.wrappers):
                raise
            raise EnvPipelineError(index, settings.wrappers[index], exc) from exc
    return env


def make_vector_env(settings: EnvSettings, num_envs: int | None = None) -> gym.vector.VectorEnv:
    """``num_envs`` (default: the recipe's) envs stepped together; for a multi-agent env (``env.agents``), that many
    games with their agents as the columns (``pgkit.envs.agent_columns``)."""
    if settings.agents is not None:
        return make_agent_columns(settings, num_envs)
    if settings.vectorization in NATIVE:
        return make_native_vector_env(settings, num_envs or settings.num_envs)
    return gym.make_vec(
        env_source(settings),
        num_envs=num_envs or settings.num_envs,
        vectorization_mode=settings.vectorization,
        vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP},
        wrappers=settings.pipeline() or None,
        **settings.kwargs,
    )


def with_final_observations(next_obs: np.ndarray, info: dict, prepare: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``next_obs`` with the true final observation (passed through ``prepare``) where an episode ended.

    Under SAME_STEP autoreset the step that ends an episode returns the next episode's first
    observation; the final one is in ``info["final_obs"]``. Returns ``next_obs`` itself if none ended."""
    ended = info.get("_final_obs")
    if ended is None or not ended.any():
        return next_obs
    patched = next_obs.copy()
    for i in np.flatnonzero(ended):
        patched[i] = prepare(batch_of_one(info["final_obs"][i]))[0]
    return patched


def batch_of_one(obs: object) -> np.ndarray:
    """One observation as a batch of one: an array gains a leading axis; a Dict or Tuple observation is put
    in a one-element object array."""
    if isinstance(obs, (dict, tuple)):
        batch = np.empty(1, dtype=object)
        batch[0] = obs
        return batch
    return np.asarray(obs)[None]


def probe_spaces(settings: EnvSettings) -> tuple[gym.Space, gym.Space] | Problem:
    """(observation_space, action_space) of one env, or a Problem saying why it cannot be made."""
    problem = _source_problem(settings)
    if problem is not None:
        return problem
    try:
        env = make_env(settings) if settings.agents is None else make_agent_columns(settings, 1)
    except EnvPipelineError as exc:
        return exc.problem
    except Exception as exc:  # e.g. a missing optional dependency such as box2d
        return Problem("env", f"could not make '{settings.id}': {type(exc).__name__}: {exc}", "check env.kwargs and the env's extra dependencies")
    try:
        return (env.observation_space, env.action_space) if settings.agents is None else (env.single_observation_space, env.single_action_space)
    finally:
        env.close()


def _source_problem(settings: EnvSettings) -> Problem | None:
    """Why the env's modules, entry point or id cannot be found, or None."""
    module_id, _, env_id = settings.id.rpartition(":")
    needed = [(f"env.modules[{i}]", module) for i, module in enumerate(settings.modules)]
    if settings.entry_point is not None:
        needed.append(("env.entry_point", settings.entry_point.partition(":")[0]))
    elif module_id:
        needed.append(("env.id", module_id))
    for path, module in needed:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            return Problem(path, f"cannot import '{module}': {exc}", f"install the package that provides '{module}' into this environment (pip install ...)")
    if settings.entry_point is None and settings.agents is not None:
        return _pettingzoo_module_problem(settings)
    if settings.vectorization in NATIVE:
        refusal = native_refusal(settings)
        return Problem("env.vectorization", *refusal) if refusal is not None else None
    if settings.entry_point is not None:
        module, _, name = settings.entry_point.partition(":")
        target = importlib.import_module(module)
        for part in name.split("."):
            target = getattr(target, part, None)
        if not callable(target):
            return Problem("env.entry_point", f"'{module}' has no env class or function '{name}'", "name a class or function of that module")
        return None
    if env_id not in gym.registry:
        close = difflib.get_close_matches(env_id, list(gym.registry), n=3)
        hint = f"did you mean {', '.join(repr(c) for c in close)}?" if close else "see gymnasium.registry for the ids, or import the package that registers it with env.modules"
        return Problem("env.id", f"unknown environment '{env_id}'", hint)
    return None


def _pettingzoo_module_problem(settings: EnvSettings) -> Problem | None:
    """Why ``env.id`` names no PettingZoo env module that env.agents can make (``env_module_maker``'s reasons), or None."""
    try:
        env_module_maker(settings)
    except EnvModuleError as exc:
        return Problem("env.id", exc.message, exc.fix)
    except ImportError as exc:
        package, _, name = settings.id.rpartition(":")
        return Problem("env.id", f"cannot import '{package}.{name}': {exc}", f"check the env's name in {package}, or install the package that provides it")
    return None

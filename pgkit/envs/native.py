"""Vector envs stepped as one native batch: gymnasium's vector entry points and EnvPool (``env.vectorization``
native or envpool).

Both reset an ended episode on the *next* step (gymnasium's NEXT_STEP autoreset): the step that ends an episode
returns its true final observation, and the env's next step ignores that column's action, returns reward 0 and
the new episode's first observation. ``NextStepColumns`` presents such an env to pgkit's collectors: the column
is idle (``alive`` false) for that reset step, and batches leave it out as they leave out a multi-agent env's
idle agents (``Batch.alive``), so every transition a trainer sees is real and no final observation is lost.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import warnings
from typing import Any, Iterator

import cloudpickle
import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode

from pgkit.envs.settings import EnvSettings, rescale_box_actions
from pgkit.errors import PgkitError


class NativeEnvError(PgkitError):
    """``env.vectorization`` native or envpool cannot make this env: ``message`` says why, ``fix`` what to do."""

    def __init__(self, message: str, fix: str):
        self.message, self.fix = message, fix
        super().__init__(f"{message}\n    fix: {fix}")


class NextStepColumns(gym.vector.VectorWrapper):
    """A NEXT_STEP vector env whose reset steps are idle columns: ``alive`` ([num_envs] bool) says which columns
    take a real step at the next call (false right after an episode's end)."""

    def __init__(self, env: gym.vector.VectorEnv):
        super().__init__(env)
        self._alive = np.ones(env.num_envs, dtype=bool)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        obs, info = self.env.reset(seed=seed, options=options)
        self._alive = np.ones(self.num_envs, dtype=bool)
        return obs, info

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict]:
        obs, rewards, terminated, truncated, info = self.env.step(actions)
        self._alive = ~(terminated | truncated)
        return obs, rewards, terminated, truncated, info

    @property
    def alive(self) -> np.ndarray:
        """[num_envs] bool: the columns whose next step is a real step (not the reset after an end)."""
        return self._alive.copy()

    def pickled(self) -> bytes | None:
        """The env's whole state with the idle columns, pickled (None if the env does not pickle: EnvPool's)."""
        try:
            return cloudpickle.dumps((self.env, self._alive))
        except Exception:
            return None

    def restore(self, saved: tuple[gym.vector.VectorEnv, np.ndarray]) -> None:
        """Continue from what ``pickled()`` saved (an env of as many columns)."""
        env, alive = saved
        if env.num_envs != self.num_envs:
            raise ValueError(f"the checkpoint saved {env.num_envs} environments, but this run has {self.num_envs}")
        self.env.close()
        self.env, self._alive = env, alive


class EnvPoolVector(gym.vector.VectorEnv):
    """An EnvPool batch as a gymnasium vector env (NEXT_STEP autoreset). EnvPool seeds its envs when it makes
    them (env i gets seed + i; ``reset(seed=...)`` of an existing pool does not reseed), so a reset with a new
    seed makes the pool anew."""

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, task_id: str, num_envs: int, kwargs: dict[str, Any]):
        self.task_id, self.num_envs, self.kwargs = task_id, num_envs, dict(kwargs)
        self.kwargs.setdefault("num_threads", default_threads(num_envs))
        self._seed: int | None = None
        with _quiet_casts():
            self._pool = self._made(0)
            self.single_observation_space = self._pool.observation_space
            self.single_action_space = self._pool.action_space
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, num_envs)

    def _made(self, seed: int) -> Any:
        envpool = importlib.import_module("envpool")
        self._seed = seed
        with _quiet_casts():
            return envpool.make_gymnasium(self.task_id, num_envs=self.num_envs, seed=seed, **self.kwargs)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        if seed is not None and seed != self._seed:
            self._pool.close()
            self._pool = self._made(seed)
        with _quiet_casts():
            return self._pool.reset()

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict]:
        obs, rewards, terminated, truncated, info = self._pool.step(np.asarray(actions))
        return obs, rewards.astype(np.float64), terminated, truncated, info

    def close_extras(self, **kwargs: Any) -> None:
        self._pool.close()


@contextlib.contextmanager
def _quiet_casts() -> Iterator[None]:
    """EnvPool's spaces give float64 bounds to float32 Boxes, which gymnasium casts with a warning each time."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*Box (low|high)'s precision lowered", UserWarning)
        yield


def default_threads(num_envs: int) -> int:
    """EnvPool's threads where env.kwargs does not say: one per env, leaving a core to the learner, at least one (on
    2 cores, 8 CartPole envs step at 120k steps/s on one thread and 77k on two)."""
    return max(1, min(num_envs, len(os.sched_getaffinity(0)) - 1))


class EnvPoolEnv(gym.Env):
    """One EnvPool env as a gymnasium env (for evaluation and probing: the same env the batch steps)."""

    def __init__(self, task_id: str, kwargs: dict[str, Any]):
        self._batch = EnvPoolVector(task_id, 1, {**kwargs, "num_threads": 1})
        self.observation_space = self._batch.single_observation_space
        self.action_space = self._batch.single_action_space

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        obs, _ = self._batch.reset(seed=seed)
        return obs[0], {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        obs, rewards, terminated, truncated, _ = self._batch.step(np.asarray(action)[None])
        return obs[0], float(rewards[0]), bool(terminated[0]), bool(truncated[0]), {}

    def close(self) -> None:
        self._batch.close()


def make_native_vector_env(settings: EnvSettings, num_envs: int) -> NextStepColumns | gym.vector.VectorEnv:
    """``num_envs`` envs as one native batch (``settings.vectorization`` native or envpool); a NEXT_STEP one as
    ``NextStepColumns``. Raises NativeEnvError where the env has no native batch or a setting cannot apply."""
    refusal = native_refusal(settings)
    if refusal is not None:
        raise NativeEnvError(*refusal)
    if settings.vectorization == "envpool":
        env: gym.vector.VectorEnv = EnvPoolVector(settings.id, num_envs, settings.kwargs)
    else:
        env = gym.make_vec(settings.id, num_envs=num_envs, vectorization_mode="vector_entry_point", **settings.kwargs)
    if settings.rescale_actions and isinstance(env.single_action_space, gym.spaces.Box):
        env = gym.wrappers.vector.RescaleAction(env, -1.0, 1.0)
    mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
    if mode == AutoresetMode.NEXT_STEP:
        return NextStepColumns(env)
    if mode == AutoresetMode.SAME_STEP:
        return env
    raise NativeEnvError(f"{settings.id}'s vector env resets episodes in mode {mode}, which pgkit's collectors do not read",
                         "set env.vectorization: sync")


def make_envpool_env(settings: EnvSettings, render_mode: str | None = None) -> gym.Env:
    """One env of what an EnvPool batch steps (for evaluation), its actions rescaled as ``env.rescale_actions`` says."""
    if render_mode is not None:
        raise NativeEnvError("EnvPool's envs do not render", "record videos with env.vectorization: sync and the env's gymnasium id")
    env: gym.Env = EnvPoolEnv(settings.id, settings.kwargs)
    return rescale_box_actions(env, -1.0, 1.0) if settings.rescale_actions and isinstance(env.action_space, gym.spaces.Box) else env


def native_refusal(settings: EnvSettings) -> tuple[str, str] | None:
    """(why, fix) if the recipe's env has no native batch of the kind ``env.vectorization`` names, else None
    (the settings themselves refuse env.wrappers, entry_point and modules with a native batch)."""
    if settings.vectorization == "envpool":
        try:
            envpool = importlib.import_module("envpool")
        except ImportError:
            return ("env.vectorization: envpool needs the envpool package", "pip install 'pgkit[envpool]'")
        if settings.id not in envpool.list_all_envs():
            return (f"EnvPool has no env '{settings.id}'", "see envpool.list_all_envs() (Atari ids are e.g. Pong-v5, MuJoCo's Ant-v4)")
        return None
    spec = gym.registry.get(settings.id)
    if spec is None or spec.vector_entry_point is None:
        natives = sorted(name for name, s in gym.registry.items() if s.vector_entry_point is not None and "jax" not in str(s.vector_entry_point).lower())
        return (f"'{settings.id}' has no native vector env (gymnasium's vector_entry_point)",
                f"set env.vectorization: sync, or envpool; the ids with one: {', '.join(natives)}")
    return None

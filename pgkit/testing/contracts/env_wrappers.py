"""The contract of env wrappers."""

from __future__ import annotations

import pickle
from typing import Callable

import cloudpickle
import gymnasium as gym

from pgkit.kinds import EnvWrapper
from pgkit.testing.contracts.common import check_spec, instance

DEFAULT_ENVS = ("CartPole-v1", "Pendulum-v1")


def check_env_wrapper(wrapper: EnvWrapper | type[EnvWrapper], env: str | Callable[[], gym.Env] | None = None) -> None:
    """The wrapper keeps no state, equals a wrapper of its spec and round-trips through its recipe entry;
    the env it wraps resets and steps inside its declared spaces, and round-trips through cloudpickle
    (checkpoints and subprocess envs pickle it). ``env``: an id or a factory of an env it wraps; by default the first of CartPole-v1
    and Pendulum-v1 it accepts."""
    wrapper = instance(wrapper)
    check_spec(wrapper)
    assert wrapper.state_dict() == {}, f"{wrapper.name}: a wrapper keeps no state of its own (the env it wraps keeps it)"
    entry = wrapper.entry()
    assert entry["type"] == wrapper.name, f"{wrapper.name}: its entry must name its type"
    params = {k: v for k, v in entry.items() if k not in ("type", "plugin", "version")}
    assert type(wrapper)(type(wrapper).Spec.model_validate(params)) == wrapper, f"{wrapper.name}: its entry must rebuild an equal wrapper"
    wrapped = _wrap(wrapper, env)
    try:
        obs, _ = wrapped.reset(seed=0)
        assert wrapped.observation_space.contains(obs), f"{wrapper.name}: reset's observation is outside {wrapped.observation_space}"
        wrapped.action_space.seed(0)
        for _ in range(5):
            obs, reward, terminated, truncated, _ = wrapped.step(wrapped.action_space.sample())
            assert wrapped.observation_space.contains(obs), f"{wrapper.name}: step's observation is outside {wrapped.observation_space}"
            float(reward)
            if terminated or truncated:
                wrapped.reset()
        copy = pickle.loads(cloudpickle.dumps(wrapped))
        assert copy.observation_space == wrapped.observation_space, f"{wrapper.name}: the env must unpickle as it was"
        copy.close()
    finally:
        wrapped.close()


def _wrap(wrapper: EnvWrapper, env: str | Callable[[], gym.Env] | None) -> gym.Env:
    if env is not None:
        return wrapper.wrap(gym.make(env) if isinstance(env, str) else env())
    failures = []
    for env_id in DEFAULT_ENVS:
        try:
            return wrapper.wrap(gym.make(env_id))
        except Exception as exc:  # gymnasium's wrappers raise ValueError, TypeError or AssertionError for a wrong space
            failures.append(f"{env_id}: {exc}")
    raise AssertionError(f"{wrapper.name} wraps none of {', '.join(DEFAULT_ENVS)} ({'; '.join(failures)}); pass the env it wraps")

"""Kind ``env_wrapper``: one step of the environment pipeline, chosen in a recipe's ``env.wrappers``."""

from __future__ import annotations

from abc import abstractmethod

import gymnasium as gym

from pgkit.kinds.component import Component


class EnvWrapper(Component):
    """Wraps one environment (usually in a gymnasium.Wrapper); the recipe's ``env.wrappers`` apply in order,
    the first innermost, to every env pgkit makes: training, evaluation, checks.

    A wrapper is a pure function of its spec: it keeps no state of its own (the envs it wraps keep theirs,
    and are checkpointed with them). Two wrappers are equal when their type and spec are."""

    kind = "env_wrapper"

    @abstractmethod
    def wrap(self, env: gym.Env) -> gym.Env:
        """``env`` wrapped; raise ValueError naming the fix when the env does not fit (e.g. a wrong space)."""

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.spec == other.spec  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self.spec))

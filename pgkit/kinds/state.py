"""The state protocol: how every stateful part is saved into a checkpoint and restored from one.

A stateful part (a torch module or optimizer, a component, a trainer, a collector, a replay buffer)
has ``state_dict() -> dict`` and ``load_state_dict(dict)``. Components and trainers inherit a default
that saves their attributes, as torch's ``nn.Module`` saves the submodules assigned to it:

- a part with ``state_dict``/``load_state_dict`` is saved through them (restored in place);
- a ``torch.Generator`` or ``numpy.random.Generator`` is saved as its RNG state (restored in place);
- plain data (None, numbers, strings, bytes, tensors, numpy arrays, and lists, tuples and dicts of
  these) is saved as a value and assigned back on restore;
- environments, pydantic settings, functions and classes are not state (environments made by the
  training loop are saved by the loop itself);
- an attribute whose name starts with ``_`` is skipped;
- anything else raises a ``TypeError`` naming the attribute, so that no state is lost in silence.

What is saved must load with ``torch.load(weights_only=True)``: numpy arrays become tensors in the
checkpoint and numpy arrays again when restored.
"""

from __future__ import annotations

import types
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np
import torch
from pydantic import BaseModel

PLAIN = (type(None), bool, int, float, str, bytes, torch.Tensor)
NOT_STATE = (gym.Env, gym.vector.VectorEnv, BaseModel, type, types.FunctionType, types.MethodType, types.ModuleType)


@runtime_checkable
class Stateful(Protocol):
    """Anything that saves and restores itself: torch modules and optimizers, components, trainers."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class _Skip:
    """Marks a value that is not state."""


SKIP = _Skip()


def attribute_state(owner: object, exclude: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The saved form of every attribute of ``owner`` (see the module docstring), except ``exclude``."""
    state = {}
    for name, value in vars(owner).items():
        if name in exclude or name.startswith("_"):
            continue
        saved = snapshot(value, f"{type(owner).__name__}.{name}")
        if saved is not SKIP:
            state[name] = saved
    return state


def load_attribute_state(owner: object, state: dict[str, Any]) -> None:
    """Restore what ``attribute_state`` saved: parts in place, plain values by assignment. A saved attribute
    the owner lacks (a checkpoint of another version of it) is refused: assigned, it would resume in silence
    from a state the code no longer reads."""
    unknown = sorted(name for name in state if not hasattr(owner, name))
    if unknown:
        raise ValueError(f"the checkpoint holds {type(owner).__name__}.{', '.join(unknown)}, which this {type(owner).__name__} does not have "
                         "(it was saved by another version of it)")
    for name, saved in state.items():
        setattr(owner, name, restore(getattr(owner, name, None), saved, f"{type(owner).__name__}.{name}"))


def snapshot(value: Any, where: str) -> Any:
    """The saved form of one value; SKIP if it is not state."""
    if isinstance(value, NOT_STATE):
        return SKIP
    if isinstance(value, Stateful):
        return value.state_dict()
    if isinstance(value, torch.Generator):
        return value.get_state()
    if isinstance(value, np.random.Generator):
        return value.bit_generator.state
    if isinstance(value, PLAIN):
        return value
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.copy())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        items = [snapshot(item, f"{where}[{i}]") for i, item in enumerate(value)]
        return type(value)(items) if isinstance(value, tuple) else items
    if isinstance(value, dict):
        return {key: snapshot(item, f"{where}[{key!r}]") for key, item in value.items()}
    raise TypeError(
        f"{where} holds a {type(value).__name__}, which pgkit cannot save in a checkpoint: give it "
        f"state_dict()/load_state_dict(), or name the attribute with a leading _ if it is rebuilt by setup"
    )


def restore(current: Any, saved: Any, where: str) -> Any:
    """``current`` with ``saved`` put back: parts and generators in place, plain values replaced."""
    if isinstance(current, Stateful):
        current.load_state_dict(saved)
        return current
    if isinstance(current, torch.Generator):
        current.set_state(saved)
        return current
    if isinstance(current, np.random.Generator):
        current.bit_generator.state = saved
        return current
    if isinstance(current, np.ndarray):
        return saved.numpy().copy()
    if isinstance(current, (list, tuple)) and isinstance(saved, (list, tuple)):
        if len(current) != len(saved):
            raise ValueError(f"{where} has {len(current)} items, but the checkpoint saved {len(saved)}")
        items = [restore(c, s, f"{where}[{i}]") for i, (c, s) in enumerate(zip(current, saved))]
        return type(current)(items)
    if isinstance(current, dict) and isinstance(saved, dict):
        return {key: restore(current.get(key), item, f"{where}[{key!r}]") for key, item in saved.items()}
    return saved

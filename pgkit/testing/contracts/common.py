"""Checks every kind shares: the spec, the state, and fitting a pair of spaces."""

from __future__ import annotations

import io
import math
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from pgkit.kinds import Combination, Component, Spec
from pgkit.kinds.capabilities import ACTION_SPACE_CAPABILITIES, OBSERVATION_SPACE_CAPABILITIES

DISCRETE = gym.spaces.Discrete(3)
BOX = gym.spaces.Box(-2.0, 1.0, (2,), np.float32)
MULTI_DISCRETE = gym.spaces.MultiDiscrete([3, 2, 4], start=[0, -1, 5])
MULTI_BINARY = gym.spaces.MultiBinary(3)
DICT_ACTIONS = gym.spaces.Dict({"move": BOX, "grip": DISCRETE, "gears": MULTI_DISCRETE, "lights": MULTI_BINARY})
PARAMETER = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
HYBRID_ACTIONS = gym.spaces.Tuple((gym.spaces.Discrete(3), gym.spaces.Tuple((PARAMETER, PARAMETER, gym.spaces.Box(0.0, 2.0, (2,), np.float32)))))
OBSERVATIONS = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
FRAMES = gym.spaces.Box(0, 255, (4, 36, 36), np.uint8)  # 4 stacked frames, the smallest the Nature CNN reads
STRUCTURED = gym.spaces.Dict({"frames": FRAMES, "cue": gym.spaces.Discrete(3), "more": gym.spaces.Tuple((OBSERVATIONS, gym.spaces.MultiBinary(2)))})


def instance(component: Component | type[Component]) -> Component:
    return component if isinstance(component, Component) else component()


def check_spec(component: Component | type[Component]) -> None:
    """The spec forbids unknown fields, describes every field, and has working defaults."""
    cls = type(component) if isinstance(component, Component) else component
    spec = cls.Spec
    assert issubclass(spec, Spec), f"{cls.__name__}.Spec must subclass pgkit.Spec"
    assert spec.model_config.get("extra") == "forbid", f"{cls.__name__}.Spec must forbid unknown fields"
    for name, field in spec.model_fields.items():
        assert field.description, f"{cls.__name__}.Spec.{name} needs a description (it is the parameter's documentation)"
    assert cls.summary(), f"{cls.__name__} needs a docstring: its first line is the summary pgkit components shows"
    spec.model_json_schema()  # the schema `pgkit schema` and editors rely on can be built
    if all(not f.is_required() for f in spec.model_fields.values()):
        dumped = spec().model_dump(mode="json")
        assert spec.model_validate(dumped) == spec(), f"{cls.__name__}.Spec does not round-trip through JSON"


def check_state(component: Component) -> None:
    """The component's state survives a checkpoint: it loads with torch.load(weights_only=True) into a
    fresh component of the same spec, whose state is then the same."""
    buffer = io.BytesIO()
    torch.save(component.state_dict(), buffer)
    buffer.seek(0)
    fresh = type(component)(component.spec)
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    assert_same(fresh.state_dict(), component.state_dict(), f"{component.name}: its state after load_state_dict")


def assert_same(a: Any, b: Any, where: str) -> None:
    """Bit-identical nested states: tensors of one dtype with equal bits, other values equal."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape, f"{where}: tensors of other dtype or shape"
        same = torch.equal(a, b) or (a.is_floating_point() and bool(((a == b) | (a.isnan() & b.isnan())).all()))
        assert same, f"{where}: tensors differ"
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), f"{where}: keys {sorted(map(str, a))} against {sorted(map(str, b))}"
        for key in a:
            assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), f"{where}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        assert math.isnan(b), f"{where}: nan against {b!r}"
    else:
        assert a == b, f"{where}: {_short(a)} against {_short(b)}"


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def fits_spaces(component: Component, slot: str, observation_space: gym.Space, action_space: gym.Space) -> bool:
    """Does the component accept these spaces (what it requires of the environment, and its own check)?"""
    combo = Combination("contract-env", observation_space, action_space, {slot: component})
    needs = component.requires & (ACTION_SPACE_CAPABILITIES | OBSERVATION_SPACE_CAPABILITIES)
    return needs <= combo.provided() and component.incompatibility(combo) is None

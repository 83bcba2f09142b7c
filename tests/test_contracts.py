"""Every registered built-in passes the contract of its kind (a new built-in is covered automatically)."""

from __future__ import annotations

import pytest

import ale_py
import gymnasium as gym

from conftest import CUE_IDS, FRAMES_ID
from pgkit.kinds import KINDS
from pgkit.plugins.registry import build_registry
from pgkit.testing import check_component

REGISTRATIONS = [r for kind in KINDS for r in build_registry(entry_points=False).of_kind(kind)]

gym.register_envs(ale_py)
PONG = "ALE/Pong-v5"  # RGB frames [210, 160, 3]
WRAPPED = {  # env wrapper -> (parameters its spec requires, an env it wraps), where CartPole or Pendulum will not do
    "atari_preprocessing": ({}, lambda: gym.make(PONG, frameskip=1)),
    "resize": ({}, PONG),
    "grayscale": ({}, PONG),
    "flatten": ({}, CUE_IDS["nested"]),
    "filter": ({"keys": ["cue"]}, CUE_IDS["dict"]),
    "reshape": ({"shape": [2, 2]}, None),
    "select": ({"indices": [0, 2]}, None),
    "scale_reward": ({"scale": 0.1}, None),
    "time_limit": ({"max_episode_steps": 3}, None),
    "frame_stack": ({}, FRAMES_ID),
    "action_mask": ({}, "Taxi-v4"),
    "text_tokens": ({}, "minigrid:MiniGrid-GoToDoor-5x5-v0"),
}


@pytest.mark.parametrize("registration", REGISTRATIONS, ids=lambda r: f"{r.kind}-{r.name}")
def test_builtin_meets_its_contract(registration, tmp_path):
    if registration.kind == "env_wrapper":
        params, env = WRAPPED.get(registration.name, ({}, None))
        check_component(registration.cls(**params), env=env)
        return
    options = {"run_dir": tmp_path} if registration.kind == "logger" else {}
    check_component(registration.cls, **options)

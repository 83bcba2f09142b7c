"""Exporting a trained policy for deployment: raw observations in, environment actions out (the
policy's mode, observation normalization included), as TorchScript or ONNX (SB3 documents both)."""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn

from pgkit.envs.actions import action_leaves, leaves_of
from pgkit.data.structured import flatten_batch, is_structured
from pgkit.errors import PgkitError
from pgkit.kinds.agent import Agent, GroupedPolicy

FORMATS = ("onnx", "torchscript")


class DeployedPolicy(nn.Module):
    """obs -> head.env_action(mode of pi(.|normalize(obs))): what ``agent.predict(obs)`` computes, as one
    module without Python-side state (normalization statistics are buffers, in float64 as pgkit keeps them).
    For a Dict or Tuple action space the output is the tuple of its leaves' actions, in the space's order
    (``pgkit.envs.actions.action_leaves`` names them)."""

    def __init__(self, agent: Agent):
        super().__init__()
        self.policy = copy.deepcopy(agent.policy).cpu().eval().requires_grad_(False)
        self.normalize = agent.obs_normalizer is not None
        if agent.obs_normalizer is not None:
            stats = agent.obs_normalizer.stats
            self.register_buffer("mean", torch.as_tensor(stats.mean, dtype=torch.float64))
            self.register_buffer("scale", 1 / torch.sqrt(torch.as_tensor(stats.var, dtype=torch.float64) + agent.obs_normalizer.epsilon))
            kept = torch.zeros(stats.mean.shape, dtype=torch.bool)
            kept[..., torch.as_tensor(agent.obs_normalizer.kept)] = True  # class indices and the action mask
            self.register_buffer("kept", kept)
            self.clip = float(agent.obs_normalizer.clip)
        self.obs_dtype = agent.obs_dtype
        self.structured = is_structured(agent.action_space)

    def forward(self, obs: Tensor) -> Tensor | tuple[Tensor, ...]:
        return self.actions(self.mode(self.normalized(obs).to(self.obs_dtype)))

    def mode(self, obs: Tensor) -> Tensor:
        """The policy's mode; for policy groups every group's mode of every row, each row's own picked by its group
        (the same actions as routing the rows, in a graph of fixed shapes, which export needs)."""
        if not isinstance(self.policy, GroupedPolicy):
            return self.policy(obs).mode
        groups = obs[..., self.policy.column].long()
        modes = [policy(obs).mode for policy in self.policy.groups]
        chosen = modes[0]
        for g, mode in enumerate(modes[1:], start=1):
            chosen = torch.where((groups == g).view(*groups.shape, *[1] * (mode.dim() - groups.dim())), mode, chosen)
        return chosen

    def actions(self, mode: Tensor) -> Tensor | tuple[Tensor, ...]:
        """The env's action for the policy's mode: one tensor, or a structured space's leaves in order."""
        actions = self.policy.head.env_action(mode)
        return tuple(leaves_of(actions)) if self.structured else actions

    def normalized(self, obs: Tensor) -> Tensor:
        if not self.normalize:
            return obs
        return torch.where(self.kept, obs.double(), ((obs.double() - self.mean) * self.scale).clamp(-self.clip, self.clip))


class MaskedDeployedPolicy(DeployedPolicy):
    """(obs, action_mask) -> the masked policy's mode: ``obs`` is the flat observation without its mask's
    columns, ``action_mask`` a bool [batch, M] (True: valid), put back where the policy reads it."""

    def __init__(self, agent: Agent):
        super().__init__(agent)
        self.start = agent.policy.mask_columns[0]

    def forward(self, obs: Tensor, action_mask: Tensor) -> Tensor | tuple[Tensor, ...]:  # type: ignore[override]
        full = self.normalized(torch.cat([obs[..., : self.start], action_mask.to(obs.dtype), obs[..., self.start :]], dim=-1))
        return self.actions(self.mode(full.to(self.obs_dtype)))


def output_names(agent: Agent) -> list[str]:
    """The exported graph's outputs: "action", or one per leaf of a Dict or Tuple action space ("action.grip")."""
    return [leaf.name for leaf in action_leaves(agent.action_space)] if is_structured(agent.action_space) else ["action"]


def deployed_policy(agent: Agent) -> tuple[nn.Module, tuple[Tensor, ...], list[str]]:
    """The module to export for ``agent``, example inputs to trace it with, and their names."""
    obs = example_observations(agent)
    if agent.policy.mask_columns is None:
        return DeployedPolicy(agent), (obs,), ["obs"]
    start, stop = agent.policy.mask_columns
    mask = obs[..., start:stop] > 0.5
    mask[..., 0] = True  # tracing inputs: the graph reads the values, not whether some action is valid
    return MaskedDeployedPolicy(agent), (torch.cat([obs[..., :start], obs[..., stop:]], dim=-1), mask), ["obs", "action_mask"]


def example_observations(agent: Agent, count: int = 4, seed: int = 0) -> Tensor:
    """``count`` observations drawn from the observation space, as the policy reads them (Dict and Tuple ones
    flattened): inputs for tracing and for tests."""
    space = agent.observation_space
    space.seed(seed)
    if is_structured(space):
        return torch.as_tensor(flatten_batch(space, [space.sample() for _ in range(count)]), dtype=agent.obs_dtype)
    samples = np.stack([space.sample() for _ in range(count)])
    if isinstance(space, gym.spaces.Box):
        samples = np.nan_to_num(samples.astype(np.float32), posinf=1.0, neginf=-1.0)
    return torch.as_tensor(samples, dtype=agent.obs_dtype)


def export_policy(agent: Agent, out: Path, fmt: str) -> Path:
    """Write ``agent``'s deployed policy to ``out`` as ``fmt`` (onnx: input "obs" [batch, ...], and for a masked
    policy "action_mask" [batch, M] bool; output "action", or one output per leaf of a Dict or Tuple action space,
    named by ``output_names``; torchscript: a traced module returning the same); returns the path."""
    if fmt not in FORMATS:
        raise PgkitError(f"unknown export format '{fmt}'; formats: {', '.join(FORMATS)}")
    if agent.memory_size:
        raise PgkitError("this policy has memory (a recurrent network): an export takes observations alone and would drop it; "
                         "deploy it with pgkit.load(...).predict(obs, state, episode_start), which carries the state")
    module, example, names = deployed_policy(agent)
    out.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and exporter notes about constant folding and deprecations
        if fmt == "torchscript":
            torch.jit.trace(module, example).save(str(out))
        else:
            _export_onnx(module, example, names, output_names(agent), out)
    return out


def _export_onnx(module: nn.Module, example: tuple[Tensor, ...], names: list[str], outputs: list[str], out: Path) -> None:
    try:
        import onnx  # noqa: F401  (the exporter needs it)
    except ImportError:
        raise PgkitError("ONNX export needs the export extra: pip install 'pgkit[export]'") from None
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)  # notes such as "torchvision is not installed", irrelevant here
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the exporter reports its passes on stdout
            batch = torch.export.Dim("batch")
            torch.onnx.export(
                module, example, str(out), input_names=names, output_names=outputs,
                dynamic_shapes={name: {0: batch} for name in names}, dynamo=True, external_data=False, verbose=False,
            )
    finally:
        exporter_log.setLevel(level)

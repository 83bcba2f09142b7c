"""Policy head ``composite``: one head per entry of a Dict or Tuple action space (nested too), acting independently."""

from __future__ import annotations

import gymnasium as gym
from pydantic import Field, field_validator
from torch import Tensor, nn

from pgkit import Spec, hookimpl
from pgkit.envs import action_width, entries, mask_size
from pgkit.kinds import Combination, Components, HeadModule, PolicyHead
from pgkit.kinds.capabilities import ACTION_MASKS, BOX_ACTIONS, ENTROPY, KL, LOG_PROB, STRUCTURED_ACTIONS, Capability
from pgkit.nn import CompositeDistribution, PartLayout

DEFAULT_HEADS = {"Discrete": "categorical", "Box": "gaussian", "MultiDiscrete": "multi_categorical", "MultiBinary": "bernoulli"}
STRUCTURED = (gym.spaces.Dict, gym.spaces.Tuple)


class CompositeModule(HeadModule):
    """The entries' heads side by side on the same features; each reads its slice of the action mask."""

    def __init__(self, space: gym.spaces.Dict | gym.spaces.Tuple, heads: list[HeadModule], mask_columns: list[tuple[int, int] | None]):
        super().__init__()
        self.keys = list(entries(space))
        self.is_dict = isinstance(space, gym.spaces.Dict)
        self.heads = nn.ModuleList(heads)
        self.mask_columns = mask_columns
        self.layout, self.integer, start = [], [], 0
        for sub in entries(space).values():
            width = action_width(sub)
            self.layout.append(PartLayout(start, start + width, isinstance(sub, gym.spaces.Discrete)))
            self.integer.append(isinstance(sub, (gym.spaces.Discrete, gym.spaces.MultiDiscrete)))
            start += width

    def forward(self, features: Tensor, action_mask: Tensor | None = None) -> CompositeDistribution:
        parts = []
        for head, columns in zip(self.heads, self.mask_columns):
            masked = action_mask is not None and columns is not None
            parts.append(head(features, action_mask=action_mask[..., columns[0] : columns[1]]) if masked else head(features))
        return CompositeDistribution(parts, self.layout)

    def env_action(self, action: Tensor) -> dict[str, object] | tuple[object, ...]:
        """The flat row -> the space's tree of the entries' env actions (indices as integers)."""
        actions = []
        for head, part, integer in zip(self.heads, self.layout, self.integer):
            columns = action[..., part.start] if part.scalar else action[..., part.start : part.stop]
            actions.append(head.env_action(columns.long() if integer else columns))
        return dict(zip(self.keys, actions)) if self.is_dict else tuple(actions)


class CompositeSpec(Spec):
    heads: Components("policy_head") = Field(
        description="The head of an entry, by its Dict key or Tuple index, e.g. {grip: categorical, move: {type: gaussian, log_std_init: -0.5}}; "
        "a Dict or Tuple entry may have a composite of its own. Entries not named here get the default of their space's type."
    )
    defaults: Components("policy_head", DEFAULT_HEADS) = Field(
        description="The head of every entry not named in heads, by its space's type (Discrete, Box, MultiDiscrete, MultiBinary; "
        "those not given keep categorical, gaussian, multi_categorical, bernoulli); a Dict or Tuple entry gets a composite with these defaults."
    )

    @field_validator("defaults")
    @classmethod
    def _space_types(cls, defaults: dict[str, PolicyHead]) -> dict[str, PolicyHead]:
        unknown = sorted(set(defaults) - set(DEFAULT_HEADS))
        if unknown:
            raise ValueError(f"{', '.join(unknown)}: not a space type a head is chosen by (those are {', '.join(DEFAULT_HEADS)})")
        return defaults


class Composite(PolicyHead):
    """pi(a|s) = prod_i pi_i(a_i|s) over the entries of a Dict or Tuple action space, one head per entry on the
    shared features (TorchRL's CompositeDistribution): log-probabilities, entropies and exact KLs add up, each
    entry's head honours its part of the action mask, and a Discrete choice with Box parameters per choice is a
    hybrid (parameterised) action (Masson et al. 2016; H-PPO, Fan et al. 2019)."""

    name = "composite"
    Spec = CompositeSpec
    requires = frozenset({STRUCTURED_ACTIONS})

    @property
    def provides(self) -> frozenset[Capability]:
        """What every head it may use provides of log_prob, entropy and kl; action_masks if every head of an
        entry that can be masked (not a Box head) masks."""
        heads = [*self.spec.heads.values(), *self.spec.defaults.values()]
        shared = frozenset({LOG_PROB, ENTROPY, KL}).intersection(*(head.provides for head in heads))
        masks = all(ACTION_MASKS in head.provides or BOX_ACTIONS in head.requires for head in heads)
        return shared | ({ACTION_MASKS} if masks else frozenset())

    def incompatibility(self, combo: Combination) -> str | None:
        """An entry named in heads that the space lacks, or an entry whose head does not fit its space."""
        space = combo.action_space
        keys = {str(key) for key in entries(space)}
        unknown = sorted(set(self.spec.heads) - keys)
        if unknown:
            return f"names entries {', '.join(unknown)} in heads, but {combo.env_id}'s action space {space} has entries {', '.join(sorted(keys))}"
        for key, sub in entries(space).items():
            head = self.head_for(key, sub)
            if head is None:
                return f"has no head for entry '{key}': {sub} (a head is chosen for Box, Discrete, MultiDiscrete, MultiBinary, Dict and Tuple entries)"
            entry = Combination(f"{combo.env_id}'s entry '{key}'", combo.observation_space, sub, {**combo.components, "policy_head": head})
            reason = entry.incompatibility("policy_head")
            if reason is not None:
                return f"entry '{key}': head '{head.name}' {reason}"
        return None

    def head_for(self, key: str | int, space: gym.Space) -> PolicyHead | None:
        """The head entry ``key`` gets: named in heads, else the default of its space's type (a composite for a
        Dict or Tuple entry), None for a space no head is chosen for."""
        if str(key) in self.spec.heads:
            return self.spec.heads[str(key)]
        if isinstance(space, STRUCTURED):
            return Composite(heads={}, defaults=self.spec.defaults)
        return self.spec.defaults.get(type(space).__name__)

    def build(self, in_features: int, action_space: gym.Space) -> HeadModule:
        heads, mask_columns, start = [], [], 0
        for key, sub in entries(action_space).items():
            head = self.head_for(key, sub)
            if head is None:
                raise ValueError(f"no head for entry '{key}': {sub}")
            heads.append(head.build(in_features, sub))
            size = mask_size(sub)
            mask_columns.append(None if size is None else (start, start + size))
            start += size or 0
        return CompositeModule(action_space, heads, mask_columns)


@hookimpl
def register_policy_heads(register):
    register(Composite)

"""``text_tokens``: a Text observation (MiniGrid's and BabyAI's ``mission``) as a fixed row of word indices,
which batches can hold and networks read as one class index per position (``pgkit.data.structured``)."""

from __future__ import annotations

import itertools
import re
from typing import Any

import gymnasium as gym
import numpy as np
from pydantic import Field

from pgkit import Spec, hookimpl
from pgkit.errors import PgkitError
from pgkit.kinds import EnvWrapper

PADDING, UNKNOWN = 0, 1  # the indices before the vocabulary's words
MAX_ENUMERATED = 100_000  # missions enumerated from a MissionSpace's placeholders before asking for a vocabulary
WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    """The lowercase words of ``text``, punctuation dropped."""
    return WORD.findall(text.lower())


class TextTokensSpec(Spec):
    key: str | None = Field("mission", description="The Dict observation's entry holding the text; null: the observation is the text itself.")
    vocabulary: list[str] | None = Field(
        None, description="The words, each given index 2, 3, ... in this order (0 pads, 1 is any other word); "
        "null: every word of every mission a MiniGrid MissionSpace can generate, sorted.")
    max_words: int | None = Field(
        None, ge=1, le=1024, description="Positions in the row (longer texts are cut); null: the longest mission the MissionSpace can generate.")


class TextTokens(EnvWrapper):
    """The text becomes MultiDiscrete([2 + len(vocabulary)] * max_words): word i of the text at position i,
    0 after its end. A first linear layer then learns one vector per (position, word), as BabyAI's and
    rl-starter-files' agents embed their missions before a recurrent or bag-of-words encoder."""

    name = "text_tokens"
    Spec = TextTokensSpec

    def wrap(self, env: gym.Env) -> gym.Env:
        text_space = _text_space(env.observation_space, self.spec.key)
        missions = None if self.spec.vocabulary is not None and self.spec.max_words is not None else _missions(text_space, self.spec.key)
        vocabulary = self.spec.vocabulary if self.spec.vocabulary is not None else sorted({w for m in missions for w in words(m)})
        max_words = self.spec.max_words if self.spec.max_words is not None else max(len(words(m)) for m in missions)
        return _TextTokens(env, self.spec.key, vocabulary, max_words)


class _TextTokens(gym.ObservationWrapper):
    def __init__(self, env: gym.Env, key: str | None, vocabulary: list[str], max_words: int):
        super().__init__(env)
        self.key, self.max_words = key, max_words
        self.index = {word: i + 2 for i, word in enumerate(vocabulary)}
        tokens = gym.spaces.MultiDiscrete(np.full(max_words, len(vocabulary) + 2, dtype=np.int64))
        space = env.observation_space
        self.observation_space = tokens if key is None else gym.spaces.Dict({**space.spaces, key: tokens})

    def tokens(self, text: str) -> np.ndarray:
        row = np.full(self.max_words, PADDING, dtype=np.int64)
        found = [self.index.get(word, UNKNOWN) for word in words(text)[: self.max_words]]
        row[: len(found)] = found
        return row

    def observation(self, observation: Any) -> Any:
        if self.key is None:
            return self.tokens(observation)
        return {**observation, self.key: self.tokens(observation[self.key])}


def _text_space(space: gym.Space, key: str | None) -> gym.Space:
    if key is None:
        return space
    if not isinstance(space, gym.spaces.Dict) or key not in space.spaces:
        entries = list(space.spaces) if isinstance(space, gym.spaces.Dict) else None
        raise PgkitError(f"text_tokens: key {key!r} is not an entry of the observation ({entries or space}); set `key:` to the text's entry "
                         "(null when the observation is the text)")
    return space.spaces[key]


def _missions(space: gym.Space, key: str | None) -> list[str]:
    """Every text a MiniGrid MissionSpace generates: its mission function on each combination of placeholders."""
    mission_func, placeholders = getattr(space, "mission_func", None), getattr(space, "ordered_placeholders", None)
    if mission_func is None:
        raise PgkitError(f"text_tokens: the observation's {key or 'text'} is {space}, not a MiniGrid MissionSpace whose missions can be "
                         "listed: give `vocabulary:` (its words) and `max_words:`")
    choices = placeholders or []
    count = int(np.prod([len(c) for c in choices])) if choices else 1
    if count > MAX_ENUMERATED:
        raise PgkitError(f"text_tokens: the MissionSpace makes {count:,} missions (over {MAX_ENUMERATED:,} to list): give `vocabulary:` and `max_words:`")
    return [mission_func(*combination) for combination in itertools.product(*choices)]


@hookimpl
def register_env_wrappers(register):
    register(TextTokens)

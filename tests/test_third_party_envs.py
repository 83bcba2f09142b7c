"""Third-party envs as they come (issue 27, item 6; issue 31): MiniGrid's Dict observation holds a Text mission,
which no batch can hold; `pgkit check` refuses it with the wrappers that fix it (drop it, or read it as word
indices with `text_tokens`), and the shipped recipes train with them."""

from __future__ import annotations

import itertools
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import pgkit
from pgkit.builtins.env_wrappers.text import TextTokens, TextTokensSpec, words
from pgkit.cli.main import main
from pgkit.errors import PgkitError

minigrid = pytest.importorskip("minigrid")
gym.register_envs(minigrid)

RECIPE = Path(__file__).parent.parent / "recipes" / "minigrid-empty-ppo.yaml"
MISSION_RECIPE = Path(__file__).parent.parent / "recipes" / "minigrid-gotodoor-ppo.yaml"


def test_minigrid_as_it_is_is_refused_with_the_filter_that_fixes_it(capsys):
    for network in ("mlp", "multi_input", "lstm"):
        assert main(["check", str(RECIPE), "env.wrappers=[]", f"network={network}"]) == 2
        err = capsys.readouterr().err
        assert "observation['mission']" in err and "no fixed shape" in err, err
        assert "env.wrappers: [{type: filter, keys: [direction, image]}]" in err and "Traceback" not in err
        assert "env.wrappers: [{type: text_tokens, key: mission}]" in err
    assert main(["train", str(RECIPE), "env.wrappers=[]", "trainer.total_steps=64"]) == 2


def test_the_minigrid_recipe_trains_and_acts(tmp_path):
    agent = pgkit.train(RECIPE, overrides=["trainer.total_steps=2048", "env.num_envs=2", "logger=[]"], run_dir=tmp_path / "run")
    assert (tmp_path / "run" / "checkpoint.pt").is_file()
    assert main(["eval", str(tmp_path / "run"), "--episodes", "1"]) == 0
    assert agent is not None


def test_text_tokens_lists_every_mission_word_and_encodes_each_mission():
    env = TextTokens(TextTokensSpec()).wrap(gym.make("MiniGrid-Fetch-5x5-N2-v0"))
    space = env.unwrapped.observation_space["mission"]
    missions = [space.mission_func(*c) for c in itertools.product(*space.ordered_placeholders)]  # 5 x 6 x 2
    vocabulary = sorted({w for m in missions for w in words(m)})
    assert len(missions) == 60 and env.observation_space["mission"] == gym.spaces.MultiDiscrete([len(vocabulary) + 2] * 6)
    for seed in range(20):
        observation, _ = env.reset(seed=seed)
        mission = words(env.unwrapped.mission)
        expected = [vocabulary.index(w) + 2 for w in mission] + [0] * (6 - len(mission))
        assert observation["mission"].tolist() == expected and observation in env.observation_space


def test_text_tokens_with_a_given_vocabulary_marks_other_words_and_cuts_long_texts():
    env = TextTokens(TextTokensSpec(vocabulary=["go", "to", "the", "door"], max_words=4)).wrap(gym.make("MiniGrid-GoToDoor-5x5-v0"))
    observation, _ = env.reset(seed=0)
    assert words(env.unwrapped.mission)[:3] == ["go", "to", "the"] and observation["mission"].tolist() == [2, 3, 4, 1]  # the colour: 1


def test_text_tokens_refuses_what_it_cannot_list_or_find():
    with pytest.raises(PgkitError, match="key 'goal' is not an entry"):
        TextTokens(TextTokensSpec(key="goal")).wrap(gym.make("MiniGrid-GoToDoor-5x5-v0"))
    text_env = gym.make("CartPole-v1")
    text_env.observation_space = gym.spaces.Dict({"mission": gym.spaces.Text(20), "x": text_env.observation_space})
    with pytest.raises(PgkitError, match="give `vocabulary:`"):
        TextTokens(TextTokensSpec()).wrap(text_env)


def test_the_mission_recipe_trains_and_acts(tmp_path):
    pgkit.train(MISSION_RECIPE, overrides=["trainer.total_steps=2048", "env.num_envs=2", "logger=[]"], run_dir=tmp_path / "run")
    assert main(["eval", str(tmp_path / "run"), "--episodes", "2"]) == 0

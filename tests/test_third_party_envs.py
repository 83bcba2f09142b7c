"""Third-party envs as they come (issue 27, item 6): MiniGrid's Dict observation holds a Text mission, which no
batch can hold; `pgkit check` refuses it with the wrapper that fixes it, and the shipped recipe trains with it."""

from __future__ import annotations

from pathlib import Path

import pgkit
from pgkit.cli.main import main

RECIPE = Path(__file__).parent.parent / "recipes" / "minigrid-empty-ppo.yaml"


def test_minigrid_as_it_is_is_refused_with_the_filter_that_fixes_it(capsys):
    for network in ("mlp", "multi_input", "lstm"):
        assert main(["check", str(RECIPE), "env.wrappers=[]", f"network={network}"]) == 2
        err = capsys.readouterr().err
        assert "observation['mission']" in err and "no fixed shape" in err, err
        assert "env.wrappers: [{type: filter, keys: [direction, image]}]" in err and "Traceback" not in err
    assert main(["train", str(RECIPE), "env.wrappers=[]", "trainer.total_steps=64"]) == 2


def test_the_minigrid_recipe_trains_and_acts(tmp_path):
    agent = pgkit.train(RECIPE, overrides=["trainer.total_steps=2048", "env.num_envs=2", "logger=[]"], run_dir=tmp_path / "run")
    assert (tmp_path / "run" / "checkpoint.pt").is_file()
    assert main(["eval", str(tmp_path / "run"), "--episodes", "1"]) == 0
    assert agent is not None

"""A run folder from someone else names code in its stored recipe: nothing it names is imported or called, on
any command or API entry point, and the way on is given; the same recipe written by this user still runs and
resumes exactly (issue 27, item 1)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

import pgkit
from pgkit.cli.main import main
from pgkit.errors import PgkitError
from pgkit.runtime.signing import sign_document
from pgkit.runtime.stored_run import ForeignCodeError, read_checkpoint
from pgkit.runtime.training import load_for_resume
from pgkit.testing import check_resume

RECIPES = Path(__file__).parent.parent / "recipes"
CANARY = "pgkit_canary_env"  # a module that leaves a mark when imported and when its env is made
CANARY_SOURCE = '''
import os, pathlib
import gymnasium as gym
from gymnasium.envs.classic_control.cartpole import CartPoleEnv
pathlib.Path(os.environ["PGKIT_CANARY"], "imported").touch()
def make(**kwargs):
    pathlib.Path(os.environ["PGKIT_CANARY"], "called").touch()
    return CartPoleEnv()
gym.register("Canary-v0", entry_point=make, max_episode_steps=50)
'''
PLANTED = {  # each code-naming field of a recipe, as a foreign run folder would plant it
    "env.entry_point": {"entry_point": f"{CANARY}:make"},
    "env.modules": {"modules": [CANARY]},
    "env.id module": {"id": f"{CANARY}:Canary-v0"},
}


@pytest.fixture()
def canary(tmp_path, monkeypatch) -> Path:
    """The canary module importable (here and in subprocesses), and the folder its marks go to."""
    source = tmp_path / "canary-src"
    source.mkdir()
    (source / f"{CANARY}.py").write_text(CANARY_SOURCE)
    marks = tmp_path / "marks"
    marks.mkdir()
    monkeypatch.syspath_prepend(str(source))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(source), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("PGKIT_CANARY", str(marks))
    monkeypatch.delitem(sys.modules, CANARY, raising=False)
    yield marks
    sys.modules.pop(CANARY, None)


def foreign_run(root: Path, env: dict, monkeypatch) -> Path:
    """A run trained by this user, whose stored recipe another user then changed and signed with their own key."""
    run = root / "foreign"
    assert main(["train", str(RECIPES / "cartpole-ppo.yaml"), "trainer.total_steps=128", "trainer.steps_per_env=8",
                 "checkpoint_every=64", "logger=[csv]", "--run-dir", str(run)]) == 0
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    state["recipe"]["env"].update(env)
    state["recipe"]["trainer"]["total_steps"] = 256  # so that it can be resumed
    with monkeypatch.context() as other_user:
        other_user.setenv("PGKIT_CONFIG_DIR", str(root / "other-user"))
        state["recipe_signature"] = sign_document(state["recipe"])
    torch.save(state, run / "checkpoint.pt")
    return run


def entry_points(run: Path, out: Path) -> dict[str, object]:
    """Every way a run folder is read: the commands, and the Python API."""
    commands = {
        "eval": ["eval", str(run), "--episodes", "1"],
        "export onnx": ["export", str(run), "--out", str(out / "p.onnx")],
        "export torchscript": ["export", str(run), "--format", "torchscript", "--out", str(out / "p.pt")],
        "train --resume": ["train", "--resume", str(run)],
        "train --resume --fresh-envs": ["train", "--resume", str(run), "--fresh-envs"],
        "variance --checkpoint": ["variance", str(RECIPES / "cartpole-ppo.yaml"), "--checkpoint", str(run), "--batches", "2", "--critic-batches", "0"],
    }
    calls = {
        "pgkit.load": lambda: pgkit.load(run),
        "pgkit.export": lambda: pgkit.export(run, out / "api.onnx"),
        "load_for_resume": lambda: load_for_resume(run, fresh_envs=True),
        "pgkit.load(checkpoint file)": lambda: pgkit.load(run / "checkpoint.pt"),
    }
    return {**commands, **calls}


@pytest.mark.parametrize("field", PLANTED, ids=PLANTED)
def test_code_named_by_a_foreign_stored_recipe_runs_on_no_entry_point(tmp_path, monkeypatch, capsys, canary, field):
    run = foreign_run(tmp_path, PLANTED[field], monkeypatch)
    assert not read_checkpoint(run).signed
    for name, entry in entry_points(run, tmp_path).items():
        if isinstance(entry, list):
            code = main(entry)
            err = capsys.readouterr().err
            if name == "variance --checkpoint":  # reads the weights only: the recipe is the file given
                assert code == 0, err
                continue
            assert code == 2, (name, err)
            assert "names code" in err and "--recipe FILE" in err and "Traceback" not in err, (name, err)
        else:
            with pytest.raises(ForeignCodeError, match="nothing was run"):
                entry()
        assert not any(canary.iterdir()), f"{name} ran the planted code: {sorted(p.name for p in canary.iterdir())}"
        assert CANARY not in sys.modules, f"{name} imported {CANARY}"


def test_a_ray_address_in_a_foreign_recipe_is_not_joined(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    assert main(["train", str(RECIPES / "cartpole-ppo.yaml"), "trainer.total_steps=64", "logger=[]", "--run-dir", str(run)]) == 0
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    state["recipe"]["trainer"].update(total_steps=128, workers={"type": "ray", "num_workers": 1, "address": "203.0.113.9:6379"})
    torch.save(state, run / "checkpoint.pt")  # altered: its signature no longer matches
    assert main(["train", "--resume", str(run)]) == 2
    err = capsys.readouterr().err
    assert "trainer.workers.address: '203.0.113.9:6379' (joined" in err and "nothing was run" in err


def test_a_foreign_recipe_given_again_from_a_trusted_file_runs(tmp_path, monkeypatch, capsys, canary):
    run = foreign_run(tmp_path, PLANTED["env.entry_point"], monkeypatch)
    trusted = tmp_path / "trusted.yaml"
    trusted.write_text(f"extends: {RECIPES / 'cartpole-ppo.yaml'}\nenv: {{entry_point: '{CANARY}:make'}}\n"
                       "trainer: {total_steps: 256, steps_per_env: 8}\ncheckpoint_every: 64\nlogger: [csv]\n")
    assert main(["eval", str(run), "--episodes", "1", "--recipe", str(trusted)]) == 0, capsys.readouterr().err
    assert (canary / "called").exists()  # the user vouched for it
    assert main(["train", "--resume", str(run), "--fresh-envs", "--recipe", str(trusted)]) == 0, capsys.readouterr().err
    assert read_checkpoint(run).signed  # written by this user now: later commands need no --recipe
    assert main(["export", str(run), "--out", str(tmp_path / "p.onnx")]) == 0


def test_a_trusted_file_cannot_change_what_the_state_was_built_for(tmp_path, monkeypatch, canary):
    run = foreign_run(tmp_path, PLANTED["env.entry_point"], monkeypatch)
    other = tmp_path / "other.yaml"
    other.write_text(f"extends: {RECIPES / 'cartpole-ppo.yaml'}\nnetwork: {{hidden_sizes: [8]}}\n")
    with pytest.raises(PgkitError, match="network: cannot change when resuming or reloading"):
        pgkit.load(run, recipe=other)


def test_a_foreign_recipe_that_names_no_code_is_used_as_it_is(tmp_path, monkeypatch):
    run = foreign_run(tmp_path, {"num_envs": 8}, monkeypatch)
    assert not read_checkpoint(run).signed
    assert pgkit.load(run).predict([0.0, 0.0, 0.0, 0.0])[0] in (0, 1)


def test_the_users_own_code_naming_recipe_resumes_exactly(registry, tmp_path):
    document = {
        "env": {"id": "CartPole-v1", "entry_point": "gymnasium.envs.classic_control.cartpole:CartPoleEnv",
                "modules": ["gymnasium.envs.classic_control"], "num_envs": 2, "kwargs": {}},
        "policy_head": "categorical", "critic": "value", "advantage": "gae", "objective": "ppo_clip", "optimizer": "adam",
        "trainer": {"type": "on_policy", "total_steps": 256, "steps_per_env": 16, "epochs": 2, "minibatch_size": 16},
    }
    check_resume(document, registry, workdir=tmp_path)


def test_a_plugins_own_code_naming_field_is_found_by_its_mark():
    from typing import Annotated

    from pgkit import Spec
    from pgkit.code_names import code_named_by
    from pgkit.kinds import NamesCode

    class LoaderSpec(Spec):
        module: Annotated[str | None, NamesCode("imported")] = None
        size: int = 3

    assert [str(c) for c in code_named_by(LoaderSpec(module="evil.payload"), "callback[0]")] == ["callback[0].module: 'evil.payload' (imported)"]
    assert list(code_named_by(LoaderSpec(), "callback[0]")) == []


@pytest.mark.parametrize("value", [torch.zeros(0), torch.ones(3), {1: "a"}, [torch.zeros(2)]], ids=["empty tensor", "tensor", "int key", "tensor in list"])
def test_a_stored_recipe_holding_other_than_plain_data_is_refused(tmp_path, capsys, value):
    run = tmp_path / "run"
    assert main(["train", str(RECIPES / "cartpole-ppo.yaml"), "trainer.total_steps=64", "trainer.steps_per_env=8",
                 "logger=[csv]", "--run-dir", str(run)]) == 0
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    state["recipe"]["env"] = value
    torch.save(state, run / "checkpoint.pt")
    capsys.readouterr()
    assert main(["eval", str(run), "--episodes", "1"]) == 2
    assert "its stored recipe holds a" in capsys.readouterr().err

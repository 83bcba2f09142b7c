"""The CLI as a new user meets it: clear messages and exit code 2 for mistakes, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from pgkit.cli import main

RECIPES = Path(__file__).parent.parent / "recipes"
SMALL = ["trainer.total_steps=256", "trainer.steps_per_env=16", "env.num_envs=2"]


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, overrides, expected",
    [
        ("extends: {base}\npolicy_head: categorcal\n", [], "did you mean 'categorical'"),
        ("extends: {base}\nadvantage: {{type: discounted_reward_to_go, gamma: 2}}\n", [], "advantage.gamma: Input should be less than or equal to 1"),
        ("env: {{id: CartPole-v1}}\npolicy_head: categorical\nobjective: reinforce\noptimizer: adam\n", [], "advantage: missing slot"),
        ("env: {{id: CartPole-v1\n", [], "invalid YAML: line"),
        ("extends: {base}\n", ["advantage.gama=0.9"], "advantage.gama: unknown field"),
        ("extends: {base}\n", ["optimizer.lr"], "an override is written key.sub=value"),
        ("extends: {base}\nenv: {{id: Pendulum-v1}}\n", [], "needs a Discrete action space"),
    ],
    ids=["misspelled-component", "out-of-range", "missing-slot", "malformed-yaml", "unknown-override-key", "bad-override", "incompatible"],
)
def test_bad_input_gets_a_short_message_and_exit_2(tmp_path, capsys, text, overrides, expected):
    path = write(tmp_path, text.format(base=RECIPES / "cartpole-reward-to-go.yaml"))
    code, out, err = run_cli(capsys, "train", path, *overrides)
    assert code == 2
    assert expected in err and err.startswith("error: ")
    assert "Traceback" not in err and len(err.splitlines()) <= 8


def test_missing_file(capsys):
    code, _, err = run_cli(capsys, "check", "nope.yaml")
    assert code == 2 and "no recipe file at nope.yaml" in err


def test_unknown_kind(capsys):
    code, _, err = run_cli(capsys, "components", "advantages")
    assert code == 2 and "kinds are: network, policy_head" in err


def test_components_lists_specs(capsys):
    code, out, _ = run_cli(capsys, "components", "advantage")
    assert code == 0
    assert "discounted_reward_to_go  (pgkit" in out
    assert "gamma: number (default 0.99; >= 0, <= 1) Discount factor gamma." in out


def test_plugins_lists_hooks(capsys):
    code, out, _ = run_cli(capsys, "plugins")
    assert code == 0 and "register_advantages: total_return, reward_to_go, discounted_reward_to_go" in out


def test_check_prints_resolved_recipe(capsys):
    code, out, _ = run_cli(capsys, "check", RECIPES / "cartpole-reinforce-baseline.yaml")
    assert code == 0 and out.startswith(f"{RECIPES / 'cartpole-reinforce-baseline.yaml'}: ok")


def test_train_then_eval(tmp_path, capsys):
    run_dir = tmp_path / "run"
    code, out, err = run_cli(capsys, "train", RECIPES / "cartpole-reinforce-baseline.yaml", *SMALL, "--run-dir", run_dir)
    assert code == 0, err
    assert {p.name for p in run_dir.iterdir()} == {"recipe.yaml", "metrics.csv", "checkpoint.pt", ".lock"}  # the lock: see run_folder.py
    saved = yaml.safe_load((run_dir / "recipe.yaml").read_text())
    assert saved["trainer"]["total_steps"] == 256 and saved["critic"]["plugin"] == "pgkit"
    checkpoint = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert checkpoint["recipe"] == saved and checkpoint["step"] == 256
    code, out, _ = run_cli(capsys, "eval", run_dir, "--episodes", 2)
    assert code == 0 and "CartPole-v1: mean return" in out and "over 2 episodes" in out


def test_eval_of_a_non_checkpoint(tmp_path, capsys):
    bad = tmp_path / "checkpoint.pt"
    bad.write_bytes(b"not a checkpoint")
    code, _, err = run_cli(capsys, "eval", bad)
    assert code == 2 and "is not a readable pgkit checkpoint" in err


def test_console_script_exit_code(tmp_path):
    path = write(tmp_path, "env: {id: CartPole-v1}\npolicy_head: nope\n")
    result = subprocess.run([sys.executable, "-m", "pgkit.cli", "check", str(path)], capture_output=True, text=True)
    assert result.returncode == 2
    assert "policy_head.type: unknown policy_head 'nope'" in result.stderr and "Traceback" not in result.stderr


def test_overrides_may_follow_options(tmp_path, capsys):
    run_dir = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", RECIPES / "cartpole-reward-to-go.yaml", "--run-dir", run_dir, *SMALL, "logger=[]")
    assert code == 0, err
    assert yaml.safe_load((run_dir / "recipe.yaml").read_text())["logger"] == []


def test_unknown_option_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "recipe.yaml", "--epochs", "3"])
    assert info.value.code == 2 and "unrecognized arguments: --epochs 3" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["train", "--help"]])
def test_help_and_version_are_fast_they_do_not_import_torch(argv):
    code = f"import sys\nfrom pgkit.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass\nprint('torch loaded:', 'torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip().endswith("torch loaded: False"), result.stdout + result.stderr
    if argv == ["--version"]:
        from pgkit import __version__

        assert f"pgkit {__version__}" in result.stdout

"""docs/writing-plugins.md works as written: its files, installed, give a plugin that pgkit discovers,
trains with from the tutorial's recipe, and whose tests pass with pgkit.testing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tutorial_files import first_file, install

TUTORIAL = Path(__file__).parent.parent / "docs" / "writing-plugins.md"


@pytest.fixture(scope="module")
def plugin(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    return install(TUTORIAL, tmp_path_factory.mktemp("tutorial"), "pgkit-clipped")


def test_the_plugin_is_under_40_lines():
    module = first_file(TUTORIAL)
    assert module["path"].endswith(".py") and len(module["body"].strip().splitlines()) <= 40


def pgkit(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pgkit.cli", *map(str, args)], env=env, capture_output=True, text=True)


def test_discovered(plugin):
    folder, env = plugin
    result = pgkit(env, "plugins")
    assert "clipped  (pgkit-clipped 0.1.0)" in result.stdout and "register_advantages: clipped_reward_to_go" in result.stdout


def test_recipe_trains(plugin, tmp_path):
    folder, env = plugin
    assert pgkit(env, "check", folder / "cartpole-clipped.yaml").returncode == 0
    result = pgkit(env, "train", folder / "cartpole-clipped.yaml", "trainer.total_steps=2048", "--run-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    bad = pgkit(env, "check", folder / "cartpole-clipped.yaml", "advantage.clip=-1")
    assert bad.returncode == 2 and "advantage.clip: Input should be greater than 0 (got -1)" in bad.stderr


def test_its_tests_pass(plugin):
    folder, env = plugin
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder / "test_clipped.py")],
                            env=env, capture_output=True, text=True, cwd=folder)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout

"""docs/writing-plugins.md works as written: its files, installed, give a plugin that pgkit discovers,
trains with from the tutorial's recipe, and whose tests pass with pgkit.testing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

TUTORIAL = Path(__file__).parent.parent / "docs" / "writing-plugins.md"
FILE_BLOCK = re.compile(r"<!-- file: (?P<path>[^ ]+) -->\n```\w*\n(?P<body>.*?)```", re.S)


@pytest.fixture(scope="module")
def plugin(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("tutorial")
    for match in FILE_BLOCK.finditer(TUTORIAL.read_text()):
        path = root / match["path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(match["body"])
    site = root / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(site), str(root / "pgkit-clipped")],
                   check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}
    return root / "pgkit-clipped", env


def test_the_plugin_is_under_40_lines():
    module = FILE_BLOCK.search(TUTORIAL.read_text())
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

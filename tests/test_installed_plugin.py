"""A real plugin distribution, pip-installed, is discovered through the ``pgkit`` entry point and trains."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

FIXTURE = Path(__file__).parent / "fixtures" / "pgkit-median-baseline"
RECIPE = Path(__file__).parent.parent / "recipes" / "cartpole-reward-to-go.yaml"


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory) -> dict[str, str]:
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(target), str(FIXTURE)],
        check=True,
        capture_output=True,
    )
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(target), os.environ.get("PYTHONPATH")]))}


def pgkit(env, *args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pgkit.cli", *map(str, args)], env=env, cwd=cwd, capture_output=True, text=True)


def test_plugin_is_listed(plugin_env):
    result = pgkit(plugin_env, "plugins")
    assert result.returncode == 0, result.stderr
    assert "median_baseline  (pgkit-median-baseline 0.2.0)\n    register_baselines: median_return" in result.stdout


def test_plugin_component_trains_in_a_recipe(plugin_env, tmp_path):
    run_dir = tmp_path / "run"
    result = pgkit(plugin_env, "train", RECIPE, "baseline.type=median_return", "trainer.total_steps=512", "trainer.steps_per_env=32", "--run-dir", run_dir)
    assert result.returncode == 0, result.stderr
    saved = yaml.safe_load((run_dir / "recipe.yaml").read_text())
    assert saved["baseline"] == {"type": "median_return", "plugin": "median_baseline", "version": "0.2.0"}
    assert pgkit(plugin_env, "eval", run_dir, "--episodes", 1).returncode == 0


def test_checkpoint_needing_a_missing_plugin_says_so(plugin_env, tmp_path):
    run_dir = tmp_path / "run"
    pgkit(plugin_env, "train", RECIPE, "baseline.type=median_return", "trainer.total_steps=64", "trainer.steps_per_env=32", "--run-dir", run_dir)
    without_plugin = {k: v for k, v in plugin_env.items() if k != "PYTHONPATH"}
    result = pgkit(without_plugin, "eval", run_dir)
    assert result.returncode == 2
    assert "baseline 'median_return' needs plugin 'median_baseline' version 0.2.0, which is not installed" in result.stderr

"""Where one run's time goes: collection and update, per step, for pgkit and for SB3.

    .venv/bin/python benchmarks/phases.py CONFIG [--seed 0] [--set PATH=VALUE ...] [--pgkit-only]

Wraps the collect and update calls of each framework with timers (pgkit: RolloutCollector.collect and
OnPolicy._update; SB3: collect_rollouts and train) and prints microseconds per vector-env step of
collection and per gradient step of the update. On-policy configs only; one torch thread.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from configs import CONFIGS, Config  # noqa: E402
from run_one import sb3_env  # noqa: E402


def _timed(owner: Any, name: str, totals: Counter) -> None:
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            totals[name] += time.perf_counter() - started

    setattr(owner, name, wrapper)


def _gradient_steps(config: Config, recipe) -> int:
    trainer = recipe.slots["trainer"].spec
    batch = trainer.steps_per_env * config.num_envs
    per_epoch = 1 if trainer.minibatch_size is None else -(-batch // trainer.minibatch_size)
    return -(-config.total_steps // batch) * trainer.epochs * per_epoch


def pgkit_phases(config: Config, seed: int, overrides: list[str]) -> tuple[float, float]:
    from pgkit.builtins.trainers.on_policy import OnPolicy
    from pgkit.recipe import load_recipe
    from pgkit.runtime.rollout import RolloutCollector
    from pgkit.runtime.training import train

    totals: Counter = Counter()
    _timed(RolloutCollector, "collect", totals)
    _timed(OnPolicy, "_update", totals)
    recipe = load_recipe(config.recipe, [*config.overrides, *overrides, f"seed={seed}", "logger=[]"])
    with tempfile.TemporaryDirectory() as folder:
        train(recipe, Path(folder))
    vector_steps = config.total_steps / config.num_envs
    return totals["collect"] / vector_steps, totals["_update"] / _gradient_steps(config, recipe)


def sb3_phases(config: Config, seed: int, gradient_steps: int) -> tuple[float, float]:
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    env = make_vec_env(sb3_env(config), n_envs=config.num_envs, seed=seed, wrapper_class=config.sb3_wrapper)
    if config.sb3_normalize_obs:
        env = VecNormalize(env, norm_obs=True, norm_reward=config.sb3_normalize_reward)
    model = config.make_sb3(env, seed)
    totals: Counter = Counter()
    _timed(model, "collect_rollouts", totals)
    _timed(model, "train", totals)
    model.learn(config.total_steps)
    return totals["collect_rollouts"] / (config.total_steps / config.num_envs), totals["train"] / gradient_steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", choices=[name for name, c in CONFIGS.items() if not c.learning_starts])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", help="a recipe override for pgkit's run (repeatable)")
    parser.add_argument("--pgkit-only", action="store_true", help="time pgkit alone")
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = CONFIGS[args.config]
    from pgkit.recipe import load_recipe

    gradient_steps = _gradient_steps(config, load_recipe(config.recipe, config.overrides))
    timed = [("pgkit", lambda: pgkit_phases(config, args.seed, args.set))]
    if not args.pgkit_only:
        timed.append(("sb3", lambda: sb3_phases(config, args.seed, gradient_steps)))
    for framework, phases in timed:
        collect, update = phases()
        print(f"| {args.config} | {framework} | {collect * 1e6:,.0f} us per {config.num_envs}-env step | {update * 1e6:,.0f} us per gradient step |")


if __name__ == "__main__":
    main()

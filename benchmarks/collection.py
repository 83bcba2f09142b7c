"""Rollout collection against its ceiling: the raw vector env stepped with random actions.

    .venv/bin/python benchmarks/collection.py [--env CartPole-v1] [--num-envs 8] [--repeats 5]

Both step the same gymnasium vector env (same-step autoreset) for the same number of steps; pgkit's
RolloutCollector also runs the policy network and fills the batch. Medians of ``repeats`` runs.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from pgkit.envs import EnvSettings, make_vector_env
from pgkit.recipe import resolve
from pgkit.plugins.registry import default_registry
from pgkit.runtime.rollout import RolloutCollector
from pgkit.runtime.training import build_agent


def raw_steps_per_second(settings: EnvSettings, steps: int) -> float:
    envs = make_vector_env(settings)
    envs.reset(seed=0)
    envs.action_space.seed(0)
    actions = [envs.action_space.sample() for _ in range(steps)]
    started = time.perf_counter()
    for action in actions:
        envs.step(action)
    elapsed = time.perf_counter() - started
    envs.close()
    return steps * settings.num_envs / elapsed


def collector_steps_per_second(settings: EnvSettings, steps: int) -> float:
    recipe = resolve(
        {"env": settings.model_dump(), "policy_head": "categorical", "advantage": "reward_to_go", "objective": "reinforce", "optimizer": "adam", "logger": []},
        default_registry(),
    )
    agent = build_agent(recipe)
    envs = make_vector_env(settings)
    collector = RolloutCollector(envs, agent, steps, seed=0)
    started = time.perf_counter()
    collector.collect()
    elapsed = time.perf_counter() - started
    envs.close()
    return steps * settings.num_envs / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=2000, help="vector steps per measurement")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    settings = EnvSettings(id=args.env, num_envs=args.num_envs)
    raw = statistics.median(raw_steps_per_second(settings, args.steps) for _ in range(args.repeats))
    collected = statistics.median(collector_steps_per_second(settings, args.steps) for _ in range(args.repeats))
    print(f"| {args.env} x{args.num_envs} | raw env, random actions | {raw:,.0f} steps/s |")
    print(f"| {args.env} x{args.num_envs} | pgkit RolloutCollector | {collected:,.0f} steps/s ({collected / raw:.0%} of raw) |")


if __name__ == "__main__":
    main()

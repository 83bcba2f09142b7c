"""The score of a uniformly random policy on gymnasium envs: a suite's ``random`` (normalised score 0).

The mean undiscounted return over episodes seeded 10,000, 10,001, ... (the seeds pgkit bench evaluates on),
actions drawn from the action space seeded with each episode's seed:

    .venv/bin/python benchmarks/random_scores.py LunarLander-v3 MountainCar-v0 [--episodes 100]
    .venv/bin/python benchmarks/random_scores.py highway_env:parking-v0 --kwargs '{"config": {"duration": 20}}'
"""

from __future__ import annotations

import argparse
import json

import gymnasium as gym
import numpy as np

FIRST_SEED = 10_000


def random_score(env_id: str, episodes: int, kwargs: dict | None = None) -> float:
    env = gym.make(env_id, **(kwargs or {}))
    returns = []
    for seed in range(FIRST_SEED, FIRST_SEED + episodes):
        env.reset(seed=seed)
        env.action_space.seed(seed)
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total, done = total + float(reward), terminated or truncated
        returns.append(total)
    env.close()
    return float(np.mean(returns))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("env_ids", nargs="+")
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--kwargs", type=json.loads, default={}, help="keyword arguments of gym.make, as JSON (a recipe's env.kwargs)")
    arguments = parser.parse_args()
    for env_id in arguments.env_ids:
        print(f"{env_id}: {random_score(env_id, arguments.episodes, arguments.kwargs):.3f}")


if __name__ == "__main__":
    main()

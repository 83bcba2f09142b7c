"""One benchmark run in its own process: ``python benchmarks/run_one.py FRAMEWORK CONFIG SEED`` prints JSON.
FRAMEWORK is pgkit (the recipe as shipped: precision auto for off-policy configs), a variant of it (``VARIANTS``:
pgkit-fp32 or pgkit-bf16 for trainer.precision, pgkit-native or pgkit-envpool for env.vectorization, pgkit-compile
for trainer.compile, pgkit-native-compile for both), or sb3.

Measures steps/s (over the learning phase for off-policy configs), the wall time until the rolling
mean of 100 training episodes first reaches the config's target and that rolling mean's peak, the final deterministic eval over
20 episodes (and its success rate where the env reports info["is_success"]), and the process's peak memory."""

from __future__ import annotations

import json
import math
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from configs import CONFIGS, Config  # noqa: E402

EVAL_EPISODES = 20


VARIANTS = {  # pgkit's frameworks: the recipe as shipped, or with these overrides
    "pgkit": [],
    "pgkit-fp32": ["trainer.precision=float32"],
    "pgkit-bf16": ["trainer.precision=bfloat16"],
    "pgkit-native": ["env.vectorization=native"],
    "pgkit-envpool": ["env.vectorization=envpool"],
    "pgkit-compile": ["trainer.compile=true"],
    "pgkit-native-compile": ["env.vectorization=native", "trainer.compile=true"],
}


def run_pgkit(config: Config, seed: int, variant: list[str]) -> dict:
    import csv

    from pgkit.runtime.evaluation import evaluate
    from pgkit.recipe import load_recipe
    from pgkit.runtime.training import train

    recipe = load_recipe(config.recipe, [*config.overrides, *variant, f"seed={seed}", "logger=[csv]", "trainer.log_window=100"])
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        agent, run = train(recipe, Path(folder))
        wall = time.perf_counter() - started
        rows = list(csv.DictReader(open(Path(folder) / "metrics.csv")))
    times = [(int(r["step"]), float(r["time"]), float(r["return_mean"] or "nan")) for r in rows]
    learning = [(s, t) for s, t, _ in times if s >= config.learning_starts]
    if config.learning_starts:
        (s0, t0), (s1, t1) = learning[0], learning[-1]
        steps_per_second = (s1 - s0) / (t1 - t0)
    else:
        steps_per_second = times[-1][0] / times[-1][1]
    to_target = next((t for _, t, ret in times if ret >= config.target), math.nan)
    peak = max((ret for _, _, ret in times if not math.isnan(ret)), default=math.nan)
    result = evaluate(agent, recipe.settings.env, EVAL_EPISODES, seed=10_000 + seed)
    success = {"success": result.success_rate} if result.success_rate is not None else {}
    return {"steps_per_second": steps_per_second, "time_to_target": to_target, "peak": peak, "eval": result.mean, "wall": wall, **success}


def run_sb3_agents(config: Config, seed: int) -> dict:
    """SB3's PPO on SuperSuit's vector env of a PettingZoo env's agents (each agent a column, one shared policy, as
    PettingZoo's SB3 tutorial): steps/s and the deterministic eval per env step and per game, as pgkit counts them."""
    import supersuit
    from stable_baselines3.common.utils import set_random_seed
    from stable_baselines3.common.vec_env import VecMonitor

    from pgkit.envs.pettingzoo_making import game_maker, make_agent_columns

    settings = sb3_env_settings(config)
    env = supersuit.concat_vec_envs_v1(supersuit.pettingzoo_env_to_vec_env_v1(game_maker(settings)()), config.num_envs, num_cpus=0,
                                       base_class="stable_baselines3")
    set_random_seed(seed)
    model = config.make_sb3(VecMonitor(env), seed)
    started = time.perf_counter()
    model.learn(config.total_steps * config.sb3_agents)
    wall = time.perf_counter() - started
    games, returns = make_agent_columns(settings, 1), []
    for episode in range(EVAL_EPISODES):
        obs, _ = games.reset(seed=10_000 + seed + episode)
        totals, over = np.zeros(games.num_envs), False
        while not over:
            obs, reward, _, _, info = games.step(model.predict(obs, deterministic=True)[0])
            totals, over = totals + reward, "final_obs" in info
        returns.append(totals.mean())
    return {"steps_per_second": model.num_timesteps / config.sb3_agents / wall, "time_to_target": math.nan, "eval": float(np.mean(returns)), "wall": wall}


def run_sb3(config: Config, seed: int) -> dict:
    if config.sb3_agents:
        return run_sb3_agents(config, seed)
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import VecNormalize

    env = make_vec_env(sb3_env(config), n_envs=config.num_envs, seed=seed, wrapper_class=config.sb3_wrapper)
    if config.sb3_normalize_obs:
        gamma = sb3_env_settings(config).normalize.gamma  # the discount of the return that scales rewards, as the recipe's
        env = VecNormalize(env, norm_obs=True, norm_reward=config.sb3_normalize_reward, gamma=gamma)
    model = config.make_sb3(env, seed)

    class Clock(BaseCallback):
        def _on_training_start(self) -> None:
            self.started, self.learning_from, self.to_target, self.peak = time.perf_counter(), None, math.nan, math.nan

        def _on_step(self) -> bool:
            now = time.perf_counter() - self.started
            if self.learning_from is None and self.num_timesteps >= max(config.learning_starts, 1):
                self.learning_from = (self.num_timesteps, now)
            buffer = self.model.ep_info_buffer
            if len(buffer):  # SB3 adds an ended episode after this call: the mean is read one step late, as before
                rolling = float(np.mean([e["r"] for e in buffer]))
                self.peak = rolling if math.isnan(self.peak) else max(self.peak, rolling)
                if math.isnan(self.to_target) and rolling >= config.target:
                    self.to_target = now
            return True

    clock = Clock()
    started = time.perf_counter()
    model.learn(config.total_steps, callback=clock)
    wall = time.perf_counter() - started
    s0, t0 = clock.learning_from if config.learning_starts else (0, 0.0)
    steps_per_second = (model.num_timesteps - s0) / (wall - t0)
    eval_env = make_vec_env(sb3_env(config), n_envs=1, seed=10_000 + seed, wrapper_class=config.sb3_wrapper)
    if config.sb3_normalize_obs:
        eval_env = VecNormalize(eval_env, norm_obs=True, norm_reward=False, training=False)
        eval_env.obs_rms = env.obs_rms
    successes = []

    def record_success(local: dict, _: dict) -> None:  # info["is_success"] where an episode ends, as pgkit's evaluate reads it
        if local["done"] and "is_success" in local["info"]:
            successes.append(bool(local["info"]["is_success"]))

    if config.sb3_masked:
        from sb3_contrib.common.maskable.evaluation import evaluate_policy as evaluate_masked

        mean, _ = evaluate_masked(model, eval_env, n_eval_episodes=EVAL_EPISODES, deterministic=True, use_masking=True)
    else:
        mean, _ = evaluate_policy(model, eval_env, n_eval_episodes=EVAL_EPISODES, deterministic=True, callback=record_success)
    success = {"success": float(np.mean(successes))} if successes else {}
    return {"steps_per_second": steps_per_second, "time_to_target": clock.to_target, "peak": clock.peak, "eval": float(mean), "wall": wall,
            **success}


def sb3_env(config: Config):
    """The env id, or (sb3_pgkit_envs) a factory of the envs pgkit makes from the recipe, wrappers and all."""
    if not config.sb3_pgkit_envs:
        return config.env_id
    from pgkit.envs import make_env

    settings = sb3_env_settings(config)
    return lambda: make_env(settings)


def sb3_env_settings(config: Config):
    """The env section of the recipe whose envs and settings SB3 gets (``sb3_recipe``, else the config's own)."""
    from pgkit.recipe import load_recipe

    return load_recipe(config.sb3_recipe or config.recipe, config.overrides).settings.env


def main() -> None:
    framework, name, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    torch.set_num_threads(1)
    config = CONFIGS[name]
    if framework == "sb3":
        result = run_sb3(config, seed)
    else:
        result = run_pgkit(config, seed, VARIANTS[framework.replace("pgkit-base", "pgkit")])
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"framework": framework, "config": name, "seed": seed, **result}))


if __name__ == "__main__":
    main()

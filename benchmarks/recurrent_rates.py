"""Recurrent PPO's rate of learning CartPole without velocities, pgkit against sb3-contrib's RecurrentPPO on the
same seeds (issue 31's restated recurrent bar): how many of 20 seeds each reach a rolling mean of 100 training
episodes >= 475 within 1e5 steps, with Fisher's exact test that pgkit's rate is lower.

    .venv/bin/python benchmarks/recurrent_rates.py [--seeds 20] [--workers 2] [--results benchmarks/results/recurrent-rates.jsonl]

Arms (benchmarks/configs.py, rl-baselines3-zoo's ppo_lstm settings for CartPoleNoVel-v1): pgkit-lstm
(recipes/cartpole-novel-lstm-ppo.yaml), pgkit-gru (recipes/cartpole-novel-gru-ppo.yaml) and RecurrentPPO
(MlpLstmPolicy; sb3-contrib has no GRU, so both pgkit arms are compared with it). Each run is
``benchmarks/run_one.py FRAMEWORK CONFIG SEED`` in a fresh process with one torch thread; ``--workers`` of them
at a time (the rates do not depend on speed, so runs may share the cores).

Resumable: each finished run is a line of ``--results`` in pgkit bench's results format (task = the arm, seed,
eval_mean, and the peak); a re-run skips the (arm, seed) pairs it holds and prints the report from all of them: per arm the seeds that reached 475 and every run's peak rolling mean,
the mean peak with its 95% bootstrap interval and P(pgkit's peak > RecurrentPPO's) (pgkit bench report's
statistics, through rliable), and the one-sided Fisher exact p of pgkit's rate being lower.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from compare import machine  # noqa: E402

from pgkit.cli.bench import append_result, read_results  # noqa: E402  (pgkit bench's results lines: fsync'd, a cut last line dropped)

TARGET = 475.0
ARMS = {  # arm -> (run_one framework, benchmarks/configs.py config)
    "pgkit-lstm": ("pgkit", "recurrent-ppo-cartpole-novel"),
    "pgkit-gru": ("pgkit", "recurrent-gru-ppo-cartpole-novel"),
    "RecurrentPPO": ("sb3", "recurrent-ppo-cartpole-novel"),
}
REFERENCE = "RecurrentPPO"


def run(arm: str, seed: int) -> dict:
    """One run as a results line of pgkit bench's shape (task = the arm), with the rolling mean's peak."""
    framework, config = ARMS[arm]
    out = subprocess.run([sys.executable, str(HERE / "run_one.py"), framework, config, str(seed)], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{arm} seed {seed} failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return {"task": arm, "seed": seed, "eval_mean": result["eval"], "peak": result["peak"], "wall": result["wall"]}


def report(runs: list[dict]) -> str:
    from scipy.stats import fisher_exact

    from pgkit.cli.scores import per_task, probability_of_improvement

    peaks = {arm: {r["seed"]: r["peak"] for r in runs if r["task"] == arm} for arm in ARMS}
    intervals = per_task({arm: by_seed for arm, by_seed in peaks.items() if len(by_seed) > 1})
    lines = [machine(), "", "| arm | seeds | reached 475 | rate | mean peak [95% CI] | peaks (by seed) | vs RecurrentPPO: Fisher p (lower) | "
             "P(peak > RecurrentPPO's) [95% CI] |", "| --- | ---: | --- | ---: | --- | --- | ---: | --- |"]
    reference = peaks[REFERENCE]
    for arm, by_seed in peaks.items():
        if not by_seed:
            continue
        reached = [seed for seed, peak in sorted(by_seed.items()) if peak >= TARGET]
        versus, improvement = "-", "-"
        if arm != REFERENCE and reference:
            shared = sorted(set(by_seed) & set(reference))
            ours = sum(by_seed[s] >= TARGET for s in shared)
            theirs = sum(reference[s] >= TARGET for s in shared)
            table = [[ours, len(shared) - ours], [theirs, len(shared) - theirs]]
            versus = f"{fisher_exact(table, alternative='less').pvalue:.3f} ({ours} vs {theirs} of {len(shared)})"
            if len(shared) > 1:
                chance, _ = probability_of_improvement({"peak": {s: by_seed[s] for s in shared}}, {"peak": {s: reference[s] for s in shared}})
                improvement = str(chance)
        interval = str(intervals[arm]) if arm in intervals else f"{next(iter(by_seed.values())):.1f}"
        listed = ", ".join(f"{peak:.0f}" for _, peak in sorted(by_seed.items()))
        lines.append(f"| {arm} | {len(by_seed)} | {', '.join(map(str, reached)) or 'none'} | {len(reached)}/{len(by_seed)} | {interval} | "
                     f"{listed} | {versus} | {improvement} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated, of {', '.join(ARMS)}")
    parser.add_argument("--results", type=Path, default=HERE / "results" / "recurrent-rates.jsonl")
    args = parser.parse_args()
    done = {(r["task"], r["seed"]) for r in read_results(args.results)}
    todo = [(arm, seed) for seed in range(args.seeds) for arm in args.arms.split(",") if (arm, seed) not in done]
    failed = 0
    with ThreadPoolExecutor(args.workers) as pool:  # threads that wait on run_one processes
        for finished in as_completed([pool.submit(run, arm, seed) for arm, seed in todo]):
            try:
                result = finished.result()
            except RuntimeError as error:  # reported; the other runs go on
                print(error, file=sys.stderr, flush=True)
                failed += 1
                continue
            append_result(args.results, result)
            print(f"{result['task']} seed {result['seed']}: peak {result['peak']:.1f}, eval {result['eval_mean']:.1f} ({result['wall']:.0f} s)",
                  flush=True)
    print(report(read_results(args.results)))
    if failed:
        raise SystemExit(f"{failed} run(s) failed (above); run again to retry them")


if __name__ == "__main__":
    main()

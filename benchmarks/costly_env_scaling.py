"""Collection that scales with Ray workers, measured: an env whose every step waits a fixed wall time without
using the CPU (``pgkit/Waiting-v0``: CartPole plus ``time.sleep(step_seconds)``, as a simulator behind a socket),
stepped by 1, 2, 4 and 8 workers sharing the same envs, synchronous and asynchronous collection side by side.

    .venv/bin/python benchmarks/costly_env_scaling.py [--step-seconds 0.01,0.002] [--workers 0,1,2,4,8]
        [--collection sync,async] [--num-envs 16] [--steps-per-env 64] [--batches 8] [--address auto]
        [--results benchmarks/results/costly-env-scaling.jsonl]

Each run is ``pgkit train recipes/cartpole-ppo-async.yaml`` (PPO, 20 epochs of minibatches of 256, V-trace) in a
fresh process, with ``env.num_envs`` envs split over the workers (0 workers: in this process; async there is
the background thread) on the cluster at ``--address`` (default: one this script starts with ``ray start
--head`` and stops). Ray reserves ``2 / max(workers)`` CPUs per worker: the workers wait more than they
compute. Steady steps/s is read from the run's metrics.csv after its first batch (worker start-up, the first
batch that nothing overlaps, and torch's warm-up excluded); speed-up is against the same collection with one
worker. The ceiling of N workers is what the waits alone allow: N * envs_per_worker / (envs_per_worker *
step_seconds) = N / step_seconds steps/s.

Resumable: each finished run is a line of ``--results`` (keyed by the CPU and the run's settings); a re-run
skips the runs it holds and prints the table from all of them.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from compare import machine  # noqa: E402

ROOT = HERE.parent
RECIPE = ROOT / "recipes" / "cartpole-ppo-async.yaml"
PGKIT = [sys.executable, "-m", "pgkit.cli"]


def train(settings: dict, address: str, cpus_per_worker: float, folder: Path) -> dict:
    """One run; its steady and overall steps/s and its median timings per batch."""
    workers, collection = settings["workers"], settings["collection"]
    run_dir = folder / f"{collection}-w{workers}-{settings['step_seconds']}"
    env = (f"env={{id: pgkit/Waiting-v0, num_envs: {settings['num_envs']}, "
           f"kwargs: {{env_id: CartPole-v1, step_seconds: {settings['step_seconds']}}}}}")
    overrides = [env, f"trainer.steps_per_env={settings['steps_per_env']}", f"trainer.collection={collection}",
                 f"trainer.total_steps={settings['num_envs'] * settings['steps_per_env'] * settings['batches']}"]
    if workers:
        overrides.append(f"trainer.workers={{num_workers: {workers}, cpus_per_worker: {cpus_per_worker:g}, address: '{address}'}}")
    subprocess.run([*PGKIT, "train", str(RECIPE), *overrides, "--run-dir", str(run_dir)], check=True, capture_output=True)
    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    first, last = rows[0], rows[-1]
    steady = (float(last["step"]) - float(first["step"])) / (float(last["time"]) - float(first["time"]))
    timings = {key: statistics.median(float(row[key]) for row in rows[1:]) for key in ("collect_time", "wait_time", "worker_time") if key in last}
    return {**settings, "steady_steps_per_second": steady, "steps_per_second": float(last["steps_per_second"]), **timings}


def key(result: dict) -> tuple:
    return tuple(result[name] for name in ("cpu", "step_seconds", "workers", "collection", "num_envs", "steps_per_env", "batches"))


def table(results: list[dict], step_seconds: float) -> list[str]:
    runs = {(r["collection"], r["workers"]): r for r in results if r["step_seconds"] == step_seconds}
    collections = [c for c in ("sync", "async") if any(k[0] == c for k in runs)]
    lines = [f"step_seconds {step_seconds:g} ({runs and next(iter(runs.values()))['num_envs']} envs, "
             f"ceiling {1 / step_seconds:,.0f} steps/s per worker):",
             "| workers | " + " | ".join(f"{c}: steps/s | {c}: speed-up | {c}: of the ceiling" for c in collections) + " |",
             "| --- |" + " ---: | ---: | ---: |" * len(collections)]
    for workers in sorted({k[1] for k in runs}):
        cells = []
        for collection in collections:
            run, one = runs.get((collection, workers)), runs.get((collection, 1))
            if run is None:
                cells += ["-", "-", "-"]
                continue
            speed = run["steady_steps_per_second"]
            speed_up = f"{speed / one['steady_steps_per_second']:.2f}x" if one and workers else "-"
            ceiling = f"{speed * step_seconds / workers:.0%}" if workers else "-"
            cells += [f"{speed:,.0f}", speed_up, ceiling]
        lines.append(f"| {workers or 'in-process'} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--step-seconds", default="0.01,0.002", help="waits per env step to measure (comma-separated)")
    parser.add_argument("--workers", default="0,1,2,4,8", help="worker counts, 0 for in-process")
    parser.add_argument("--collection", default="sync,async")
    parser.add_argument("--num-envs", type=int, default=16, help="envs in all, split over the workers")
    parser.add_argument("--steps-per-env", type=int, default=64)
    parser.add_argument("--batches", type=int, default=8, help="batches per run (the first is not timed)")
    parser.add_argument("--address", help="a running Ray cluster (default: start one for the benchmark)")
    parser.add_argument("--results", type=Path, default=HERE / "results" / "costly-env-scaling.jsonl")
    args = parser.parse_args()
    cpu = machine()
    worker_counts = [int(w) for w in args.workers.split(",")]
    cpus_per_worker = 2 / max(max(worker_counts), 1)
    wanted = [{"cpu": cpu, "step_seconds": float(s), "workers": w, "collection": c, "num_envs": args.num_envs,
               "steps_per_env": args.steps_per_env, "batches": args.batches}
              for s in args.step_seconds.split(",") for c in args.collection.split(",") for w in worker_counts]
    args.results.parent.mkdir(parents=True, exist_ok=True)
    done = [json.loads(line) for line in args.results.read_text().splitlines()] if args.results.exists() else []
    todo = [s for s in wanted if key(s) not in {key(r) for r in done}]
    ray = str(Path(sys.executable).parent / "ray")
    started = args.address is None and any(s["workers"] for s in todo)
    if started:
        subprocess.run([ray, "start", "--head", "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats"], check=True, capture_output=True)
    try:
        with tempfile.TemporaryDirectory() as folder:
            for settings in todo:
                result = train(settings, args.address or "auto", cpus_per_worker, Path(folder))
                print(f"{settings['collection']} x{settings['workers']} at {settings['step_seconds']:g} s: "
                      f"{result['steady_steps_per_second']:,.0f} steps/s", file=sys.stderr, flush=True)
                with args.results.open("a") as out:
                    out.write(json.dumps(result) + "\n")
                done.append(result)
    finally:
        if started:
            subprocess.run([ray, "stop", "--force"], capture_output=True)
    print(cpu)
    ours = [r for r in done if r["cpu"] == cpu and r["num_envs"] == args.num_envs and r["steps_per_env"] == args.steps_per_env]
    for step_seconds in sorted({r["step_seconds"] for r in ours}, reverse=True):
        print("\n".join(table(ours, step_seconds)), end="\n\n")


if __name__ == "__main__":
    main()

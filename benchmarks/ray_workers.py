"""Collection on Ray workers against the in-process collector, with the overhead per iteration and what
it implies for more cores.

    .venv/bin/python benchmarks/ray_workers.py [--recipe recipes/cartpole-ppo.yaml] [--workers 0,1,2] [--seeds 0]
                                               [--address auto] [--eval]

Each run is ``pgkit train RECIPE`` in a fresh process (0 workers: in-process; W: ``trainer.workers`` with W
Ray actors sharing the recipe's envs), on the cluster at ``--address`` (default: one this script starts
with ``ray start --head`` and stops at the end). Per run: steps/s, and per iteration the learner's
broadcast (one ``ray.put`` of the weights), the slowest worker's collection, and the rest of the collection
wall time (scheduling, transfers, joining: ``transfer_time``), from the run's metrics.csv.

Projection: an iteration with W workers each stepping ``b`` env steps costs
``t(W) = broadcast + worker + transfer(W) + learn * W``, where ``learn`` is the learner's time for ``b``
steps (in-process iteration minus one worker's collection of the same batch) and transfer grows
linearly with W (fitted on the measured W); steps/s = W b / t(W), one core per worker and one for the learner.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare import machine  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PGKIT = [sys.executable, "-m", "pgkit.cli"]


def train(recipe: Path, workers: int, seed: int, address: str, folder: Path, evaluate: bool) -> dict:
    run_dir = folder / f"w{workers}-s{seed}"
    overrides = [f"seed={seed}"]
    if workers:
        overrides.append(f"trainer.workers={{num_workers: {workers}, address: '{address}'}}")
    subprocess.run([*PGKIT, "train", str(recipe), *overrides, "--run-dir", str(run_dir)], check=True, capture_output=True)
    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    last = rows[-1]
    per_iteration = {key: statistics.median(float(row[key]) for row in rows[1:]) for key in
                     ("collect_time", "broadcast_time", "worker_time", "transfer_time") if key in last}
    result = {"workers": workers, "seed": seed, "steps_per_second": float(last["steps_per_second"]),
              "iteration": float(last["time"]) / len(rows), "steps_per_iteration": float(last["step"]) / len(rows), **per_iteration}
    if evaluate:
        out = subprocess.run([*PGKIT, "eval", str(run_dir)], check=True, capture_output=True, text=True).stdout
        result["eval"] = float(out.split("mean return ")[1].split()[0])
    return result


def projection(results: list[dict], cores: list[int]) -> list[str]:
    """Steps/s for ``cores`` (one learner, cores - 1 workers), each worker stepping what one worker of the
    measured runs stepped per worker, from the fitted overhead and the learner's time per step."""
    local = [r for r in results if r["workers"] == 0]
    remote = sorted((r for r in results if r["workers"] > 0), key=lambda r: r["workers"])
    if not local or len({r["workers"] for r in remote}) < 2:
        return ["(a projection needs runs with 0 workers and with at least two worker counts)"]
    one = [r for r in remote if r["workers"] == 1]
    learn_per_step = (statistics.median(r["iteration"] for r in local) - statistics.median(r["worker_time"] for r in one)) / local[0]["steps_per_iteration"]
    counts = sorted({r["workers"] for r in remote})
    overhead = {w: statistics.median(r["broadcast_time"] + r["transfer_time"] for r in remote if r["workers"] == w) for w in counts}
    slope = (overhead[counts[-1]] - overhead[counts[0]]) / (counts[-1] - counts[0])
    base = overhead[counts[0]] - slope * counts[0]
    widest = [r for r in remote if r["workers"] == counts[-1]]
    per_worker_steps = widest[0]["steps_per_iteration"] / counts[-1]
    worker = statistics.median(r["worker_time"] for r in widest)
    lines = [f"learner: {learn_per_step * 1e6:.1f} us per step; overhead per iteration: {base * 1e3:.2f} ms + {slope * 1e3:.2f} ms per worker; "
             f"each worker steps {per_worker_steps:.0f} steps in {worker * 1e3:.1f} ms"]
    for count in cores:
        workers = count - 1
        steps = workers * per_worker_steps
        seconds = base + slope * workers + worker + learn_per_step * steps
        lines.append(f"  {count:>4} cores ({workers} workers, {steps:,.0f} steps per batch): {steps / seconds:,.0f} steps/s "
                     f"(learning {learn_per_step * steps / seconds:.0%} of the iteration)")
    lines.append(f"  ceiling: the learner alone, {1 / learn_per_step:,.0f} steps/s")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", type=Path, default=ROOT / "recipes" / "cartpole-ppo.yaml")
    parser.add_argument("--workers", default="0,1,2", help="worker counts, 0 for in-process (default 0,1,2)")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--address", help="a running Ray cluster (default: start one for the benchmark)")
    parser.add_argument("--eval", action="store_true", help="also evaluate each run (pgkit eval, 10 episodes)")
    args = parser.parse_args()
    ray = str(Path(sys.executable).parent / "ray")
    started = args.address is None
    if started:
        subprocess.run([ray, "start", "--head", "--include-dashboard=false", "--disable-usage-stats"], check=True, capture_output=True)
    address = args.address or "auto"
    results = []
    try:
        with tempfile.TemporaryDirectory() as folder:
            for seed in (int(s) for s in args.seeds.split(",")):
                for workers in (int(w) for w in args.workers.split(",")):
                    results.append(train(args.recipe, workers, seed, address, Path(folder), args.eval))
                    print(results[-1], file=sys.stderr, flush=True)
    finally:
        if started:
            subprocess.run([ray, "stop", "--force"], capture_output=True)
    print(machine())
    print(f"{args.recipe.name}: median over seeds {args.seeds}")
    print("| workers | steps/s | vs in-process | collect (ms) | broadcast (ms) | slowest worker (ms) | transfer (ms) | eval |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    local = statistics.median(r["steps_per_second"] for r in results if r["workers"] == 0) if any(r["workers"] == 0 for r in results) else None
    for workers in sorted({r["workers"] for r in results}):
        runs = [r for r in results if r["workers"] == workers]
        speed = statistics.median(r["steps_per_second"] for r in runs)
        times = [f"{statistics.median(r[key] for r in runs) * 1e3:.2f}" if key in runs[0] else "-" for key in ("collect_time", "broadcast_time", "worker_time", "transfer_time")]
        evals = " / ".join(f"{r['eval']:.0f}" for r in runs) if "eval" in runs[0] else "-"
        ratio = f"{speed / local:.2f}x" if local else "-"
        print(f"| {workers or 'in-process'} | {speed:,.0f} | {ratio} | {' | '.join(times)} | {evals} |")
    print("\n".join(projection(results, [8, 32, 128])))


if __name__ == "__main__":
    main()

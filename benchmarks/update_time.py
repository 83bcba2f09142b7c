"""The off-policy trainer's update, eager against ``trainer.compile``: wall time per update (one critic step,
a policy step and the target update, the replay's draw included), per recipe, alternating eager and compiled
runs in fresh processes.

    .venv/bin/python benchmarks/update_time.py [RECIPE ...] [--pairs 3] [--updates 3000]

Each run trains the recipe for learning_starts + ``updates`` env steps with one torch thread and times every
``_learn`` call; the figure is the median of the later half (compilation and warm-up excluded). The first
update of a compiled run holds its compilation (cached on disk after the first run).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from compare import machine  # noqa: E402

ROOT = HERE.parent


def one_run(recipe: Path, compile: bool, updates: int) -> dict:
    """Train ``recipe`` in this process and time its updates."""
    import torch
    import yaml

    from pgkit.builtins.trainers.off_policy import OffPolicy
    from pgkit.plugins.registry import default_registry
    from pgkit.recipe import resolve
    from pgkit.runtime.training import train

    torch.set_num_threads(1)
    seconds: list[float] = []
    learn = OffPolicy._learn

    def timed(self, ctx):
        started = time.perf_counter()
        learn(self, ctx)
        seconds.append(time.perf_counter() - started)

    OffPolicy._learn = timed
    document = yaml.safe_load(recipe.read_text())
    trainer = document["trainer"]
    trainer.update(total_steps=trainer.get("learning_starts", 100) + updates, compile=compile, eval=None)
    document["logger"] = []
    train(resolve(document, default_registry(), source=str(recipe)))
    late = seconds[len(seconds) // 2:]
    return {"recipe": recipe.stem, "compile": compile, "updates": len(seconds), "median_ms": statistics.median(late) * 1e3,
            "first_s": seconds[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipes", nargs="*", type=Path, default=[ROOT / "recipes" / name for name in
                        ("fetchreach-sac-her.yaml", "pendulum-sac.yaml", "pendulum-td3.yaml")])
    parser.add_argument("--pairs", type=int, default=3, help="eager and compiled runs per recipe, alternating")
    parser.add_argument("--updates", type=int, default=3000)
    parser.add_argument("--one", nargs=2, metavar=("RECIPE", "COMPILE"), help=argparse.SUPPRESS)  # a child run
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_run(Path(args.one[0]), args.one[1] == "1", args.updates)))
        return
    print(machine())
    print("| recipe | eager: ms per update | compiled: ms per update | compiled / eager | compilation (s) |")
    print("| --- | --- | --- | ---: | ---: |")
    for recipe in args.recipes:
        runs = {False: [], True: []}
        for _ in range(args.pairs):
            for compile in (False, True):
                out = subprocess.run([sys.executable, __file__, "--one", str(recipe), str(int(compile)), "--updates", str(args.updates)],
                                     check=True, capture_output=True, text=True).stdout
                runs[compile].append(json.loads(out.strip().splitlines()[-1]))
        eager, compiled = ([r["median_ms"] for r in runs[flag]] for flag in (False, True))
        print(f"| {recipe.stem} | {' / '.join(f'{v:.2f}' for v in eager)} | {' / '.join(f'{v:.2f}' for v in compiled)} | "
              f"{statistics.median(compiled) / statistics.median(eager):.2f} | {max(r['first_s'] for r in runs[True]):.1f} |")


if __name__ == "__main__":
    main()

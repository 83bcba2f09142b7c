"""pgkit against Stable-Baselines3 on the same configurations, in one run on one machine.

    .venv/bin/python benchmarks/compare.py [CONFIG ...] [--seeds 3] [--frameworks pgkit,sb3] [--baseline TREE]

Runs alternate between frameworks seed by seed (each in a fresh process, one torch thread), and the
table gives medians over seeds; the ratio is the median of the per-seed ratios pgkit / SB3 of
steps/s. ``--baseline TREE`` adds ``pgkit-base`` (and ``pgkit-base-bf16``): another checkout of pgkit (e.g. a
git worktree of the commit before a change), run by that tree's own benchmarks/run_one.py, so a
change's speed is compared with what it replaced in the same run. Needs the bench extra:
pip install -c constraints.txt -e ".[bench]".
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from configs import CONFIGS  # noqa: E402


def run(framework: str, config: str, seed: int, baseline: Path | None = None) -> dict:
    if framework.startswith("pgkit-base"):  # pgkit-base, pgkit-base-bf16: the baseline tree's pgkit, pgkit-bf16
        command = [sys.executable, str(baseline / "benchmarks" / "run_one.py"), framework.replace("pgkit-base", "pgkit"), config, str(seed)]
        env = {**os.environ, "PYTHONPATH": str(baseline)}
    else:
        command, env = [sys.executable, str(HERE / "run_one.py"), framework, config, str(seed)], None
    out = subprocess.run(command, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(f"{framework} {config} seed {seed} failed:\n{out.stderr[-3000:]}")
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "framework": framework}


def machine() -> str:
    """The CPU (model, cores, the vector extensions that decide speed here) and the libraries' versions."""
    import platform
    from importlib.metadata import version

    model, flags = platform.processor() or platform.machine(), set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name") and model in ("", platform.machine(), platform.processor()):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    extensions = ", ".join(f"{name}: {'yes' if flag in flags else 'no'}" for name, flag in [("AVX-512", "avx512f"), ("AVX512-BF16", "avx512_bf16"), ("AMX", "amx_bf16")])
    libraries = ", ".join(f"{name} {version(name)}" for name in ("torch", "stable-baselines3", "gymnasium"))
    return f"CPU: {model} ({os.cpu_count()} cores; {extensions}); {libraries}"


def median(values) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return statistics.median(finite) if finite else math.nan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", nargs="*", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--frameworks", default="pgkit,sb3", help="comma-separated: pgkit (as shipped), its variants (run_one.VARIANTS: pgkit-native, pgkit-compile, ...), sb3")
    parser.add_argument("--baseline", type=Path, help="another pgkit checkout to run as framework pgkit-base")
    parser.add_argument("--json", type=Path, help="also write every run's result here")
    args = parser.parse_args()
    frameworks = args.frameworks.split(",")
    if args.baseline:
        based = [f.replace("pgkit", "pgkit-base", 1) for f in frameworks if f.startswith("pgkit") and not f.startswith("pgkit-base")]
        frameworks += [f for f in based if f not in frameworks]  # each pgkit variant once more from the baseline tree
    results = []
    for name in args.configs:
        for seed in range(args.seeds):
            for framework in frameworks:
                result = run(framework, name, seed, args.baseline)
                results.append(result)
                print(json.dumps(result), file=sys.stderr, flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print(machine())
    print(table(results, args.configs, frameworks))


def table(results: list[dict], configs: list[str], frameworks: list[str]) -> str:
    lines = [
        "| config | framework | steps/s | vs SB3 | time to target (s) | eval return | eval success | peak MB |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in configs:
        by = {f: {r["seed"]: r for r in results if r["config"] == name and r["framework"] == f} for f in frameworks}
        for framework in frameworks:
            runs = list(by[framework].values())
            ratio = "-"
            if framework != "sb3" and "sb3" in by:
                paired = [by[framework][s]["steps_per_second"] / by["sb3"][s]["steps_per_second"] for s in by[framework] if s in by["sb3"]]
                ratio = f"{median(paired):.2f}x"
            lines.append(
                f"| {name} | {framework} | {median([r['steps_per_second'] for r in runs]):,.0f} | {ratio} | "
                f"{median([r['time_to_target'] for r in runs]):.1f} | {median([r['eval'] for r in runs]):.1f} | "
                f"{median([r.get('success', math.nan) for r in runs]):.2f} | "
                f"{median([r['peak_mb'] for r in runs]):.0f} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()

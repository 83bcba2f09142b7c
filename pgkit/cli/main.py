"""The ``pgkit`` command: train, tune, bench, eval, export, check, components, variance, plot, schema, plugins.

A user's mistake (a bad recipe, a missing file) prints a short message and exits with code 2."""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import sys
import warnings
from pathlib import Path
from typing import Sequence

from pgkit.cli.paths import path_argument, writable_file, writable_folder
from pgkit.cli.progress import progress_bar
from pgkit.errors import PgkitError, PluginWarning, RecipeWarning, TrainingInterrupted

EXIT_USAGE = 2
MAX_BATCHES = 100_000  # pgkit variance: gradient estimates per recipe
TRUSTED_RECIPE_HELP = ("the run's recipe given again from a file you trust, in place of the one stored in the checkpoint (needed where that one "
                       "names code and another user or machine wrote it)")
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # all but tab and newline


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # key=value overrides written after an option such as --run-dir
        if not hasattr(args, "overrides") or not all("=" in item and not item.startswith("-") for item in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.overrides = [*args.overrides, *extra]
    warnings.showwarning = _show_warning
    warnings.filterwarnings("once", category=RecipeWarning)  # checked again when the agent is built
    try:
        return args.command(args)
    except TrainingInterrupted as exc:
        print(printable(str(exc)), file=sys.stderr)
        return exc.exit_code
    except PgkitError as exc:
        print(f"error: {printable(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `pgkit components | head`
        sys.stderr.close()
        return 0


def printable(text: str) -> str:
    """``text`` with control characters (ANSI escapes from a recipe, say) shown as ``\\x1b``, not obeyed."""
    return CONTROL_CHARACTERS.sub(lambda match: repr(match.group())[1:-1], text)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    if issubclass(category, (PluginWarning, RecipeWarning)):
        print(f"warning: {printable(str(message))}", file=sys.stderr)
    else:
        print(warnings.formatwarning(message, category, filename, lineno, line), file=sys.stderr, end="")


def _parser() -> argparse.ArgumentParser:
    from pgkit import __version__

    parser = argparse.ArgumentParser(prog="pgkit", description="Policy-gradient agents assembled from recipes.")
    parser.add_argument("--version", action="version", version=f"pgkit {__version__}")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train an agent from a recipe, or resume a run")
    train.add_argument("recipe", type=path_argument, nargs="?", help="recipe YAML file (not with --resume)")
    train.add_argument("overrides", nargs="*", metavar="key=value", help="override recipe fields, e.g. advantage.gamma=0.98")
    train.add_argument("--run-dir", type=path_argument, help="folder for this run (default: runs/<name>-<time>)")
    train.add_argument("--resume", type=path_argument, metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint")
    train.add_argument("--force", action="store_true", help="replace the run that --run-dir holds (deleted first); without it an existing run is refused")
    train.add_argument("--recipe", type=path_argument, metavar="FILE", dest="trusted_recipe",
                       help="with --resume: the run's recipe given again from a file you trust, in place of the one stored in the run (needed where "
                       "that one names code and another user or machine wrote it)")
    train.add_argument("--fresh-envs", action="store_true", help="with --resume: restart the environments from new resets instead of loading their saved state (for a checkpoint another user or machine wrote)")
    train.add_argument("--seeds", metavar="S,S,...", help="train one run per seed in parallel processes (up to the core count), then compare their evals")
    train.add_argument("--address", metavar="RAY", help="with --seeds: train the seeds as Ray tasks on the cluster at RAY (auto: the running local one; HOST:PORT)")
    train.set_defaults(command=_train)

    tune = commands.add_parser("tune", help="search a recipe's fields with Optuna (TPE sampler, median pruner) in a study database that processes share")
    tune.add_argument("recipe", type=path_argument)
    tune.add_argument("overrides", nargs="*", metavar="key=RANGE|key=value",
                      help="search ranges: path=float:LOW:HIGH, log:LOW:HIGH, int:LOW:HIGH or choice:A,B (e.g. advantage.lam=float:0.8:1.0); "
                      "other key=value items override the recipe (e.g. a shorter trainer.total_steps)")
    tune.add_argument("--trials", type=int, default=20, help="finished trials the study should have (default 20); a re-run continues the study up to it")
    tune.add_argument("--space", type=path_argument, metavar="FILE", help="YAML file of search ranges, one `path: RANGE` per line")
    tune.add_argument("--out", type=path_argument, help="folder for the study database and best.yaml (default runs/tune-<recipe name>)")
    tune.add_argument("--storage", metavar="URL", help="the study's database as an SQLAlchemy URL (default sqlite:///OUT/study.db; postgresql://... for several machines)")
    tune.add_argument("--study", metavar="NAME", help="study name in the database (default: the recipe's name)")
    tune.add_argument("--jobs", type=int, default=1, help="trials run at once, as processes here, or as Ray tasks with --address (default 1)")
    tune.add_argument("--address", metavar="RAY", help="run the jobs as Ray tasks on the cluster at RAY (auto: the running local one; HOST:PORT)")
    tune.add_argument("--seeds", metavar="S,S,...", help="train each trial on these seeds in turn and score the mean (default: the recipe's seed)")
    tune.add_argument("--score", choices=("eval", "peak", "area"), default="eval",
                      help="what a trial is worth on a seed: eval (default), the mean return of the final policy's mode; peak, the highest rolling "
                      "training return (trainer.log_window episodes); area, the mean of the rolling return at each tenth of the budget (sooner is better)")
    tune.add_argument("--eval-episodes", type=int, default=10, help="episodes of the final policy's mode a trial is scored on with --score eval (default 10)")
    tune.add_argument("--heartbeat", type=int, default=60, help="seconds between a running trial's heartbeats; a trial silent for two is failed and run again (default 60)")
    tune.set_defaults(command=_tune)

    bench = commands.add_parser("bench", help="a benchmark suite: recipes x seeds trained and evaluated (resumable), and its statistics (rliable)")
    bench_commands = bench.add_subparsers(title="bench commands", required=True, metavar="STEP")
    bench_run = bench_commands.add_parser("run", help="train and evaluate every task of a suite file on every seed; a re-run continues where it stopped")
    bench_run.add_argument("suite", type=path_argument, help="suite YAML file (seeds, eval_episodes, tasks: see docs/benchmarks.md)")
    bench_run.add_argument("--out", type=path_argument, required=True, help="folder for the runs and results.jsonl (the same one continues a suite)")
    bench_run.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="runs at once as processes here (default: the core count)")
    bench_run.add_argument("--address", metavar="RAY", help="run them as Ray tasks on the cluster at RAY instead (auto: the running local one; HOST:PORT)")
    bench_run.set_defaults(command=_bench_run)
    bench_report = bench_commands.add_parser("report", help="per-task means and intervals, IQM and performance profiles, probability of improvement")
    bench_report.add_argument("suite", type=path_argument, help="the suite file (its tasks' normalisations and published scores)")
    bench_report.add_argument("results", type=path_argument, help="results.jsonl of `pgkit bench run` (or its --out folder)")
    bench_report.add_argument("--against", type=path_argument, metavar="RESULTS", help="another results file: P(these > those) over their common tasks")
    bench_report.add_argument("--reps", type=int, default=50_000, help="bootstrap resamples (default 50,000, as rliable)")
    bench_report.add_argument("--json", type=path_argument, metavar="FILE", help="also write the report as JSON")
    bench_report.set_defaults(command=_bench_report)

    evaluate = commands.add_parser("eval", help="evaluate a trained agent (mode of the policy)")
    evaluate.add_argument("path", type=path_argument, help="run folder or checkpoint.pt")
    evaluate.add_argument("--recipe", type=path_argument, metavar="FILE", dest="trusted_recipe", help=TRUSTED_RECIPE_HELP)
    evaluate.add_argument("--episodes", type=int, default=10, help="episodes to run (default 10)")
    evaluate.add_argument("--seed", type=int, default=10_000, help="seed of the first episode's reset (episode i: seed + i)")
    evaluate.add_argument("--max-episode-steps", type=int, metavar="N", help="cut an episode the env has not ended after N steps (default 100,000; the env's own time limit comes first)")
    evaluate.add_argument("--stochastic", action="store_true", help="sample actions instead of taking the mode")
    evaluate.add_argument("--video", type=path_argument, metavar="DIR", help="record every episode as a video in DIR")
    evaluate.add_argument("--against", type=path_argument, nargs="+", metavar="RUN", help="play against these trained agents (run folders "
                          "or checkpoints; each game one of them, moving as its policy samples) in an env that takes opponents, "
                          "such as pgkit/BoardGame-v0, instead of the env's own; prints wins, draws and losses")
    evaluate.add_argument("--against-pool", action="store_true", help="play against the run's own self-play pool of past selves "
                          "(env.self_play, as its checkpoint kept it; with --against, against both), each game one of them")
    evaluate.set_defaults(command=_eval)

    check = commands.add_parser("check", help="validate a recipe and its compatibility, without training")
    check.add_argument("recipe", type=path_argument)
    check.add_argument("overrides", nargs="*", metavar="key=value")
    check.set_defaults(command=_check)

    components = commands.add_parser("components", help="list registered components and their parameters")
    components.add_argument("kind", nargs="?", help="only this kind, e.g. advantage")
    components.set_defaults(command=_components)

    plot = commands.add_parser("plot", help="plot learning curves of runs: per recipe and env, each run and their mean with a 95%% bootstrap band")
    plot.add_argument("runs", type=path_argument, nargs="+", metavar="RUN_DIR")  # grouped by recipe name and env id
    plot.add_argument("--out", type=path_argument, default=Path("learning-curves.png"), help="image file (default learning-curves.png)")
    plot.set_defaults(command=_plot)

    variance = commands.add_parser("variance", help="compare recipes' policy-gradient estimates (variance, relative variance, bias) from one policy")
    variance.add_argument("recipes", type=path_argument, nargs="+", metavar="RECIPE")
    variance.add_argument("--batches", type=int, default=150, help="batches (gradient estimates) per recipe (default 150)")
    variance.add_argument("--critic-batches", type=int, default=40, help="batches on which a recipe's critic is first fitted to the policy, 10 passes each (default 40)")
    variance.add_argument("--checkpoint", type=path_argument, metavar="RUN", help="start from this run's policy (default: the first recipe's seeded fresh policy)")
    variance.add_argument("--plot", type=path_argument, metavar="FILE", help="also draw the total and relative variances, with their intervals, into this image")
    variance.set_defaults(command=_variance)

    export = commands.add_parser("export", help="export a trained policy (its mode, normalization included) as ONNX or TorchScript")
    export.add_argument("path", type=path_argument, help="run folder or checkpoint file (best.pt too)")
    export.add_argument("--recipe", type=path_argument, metavar="FILE", dest="trusted_recipe", help=TRUSTED_RECIPE_HELP)
    export.add_argument("--format", choices=["onnx", "torchscript"], default="onnx", help="onnx (default; needs the export extra) or torchscript")
    export.add_argument("--out", type=path_argument, help="file to write (default: policy.onnx or policy.pt beside the checkpoint)")
    export.set_defaults(command=_export)

    schema = commands.add_parser("schema", help="write a JSON schema of recipe files (for editors)")
    schema.add_argument("--out", type=path_argument, help="file to write (default: standard output)")
    schema.set_defaults(command=_schema)

    plugins = commands.add_parser("plugins", help="list installed plugins and their hooks")
    plugins.set_defaults(command=_plugins)
    return parser


def _load_checked(recipe_path: Path, overrides: list[str]):
    from pgkit.recipe.compatibility import check_compatibility
    from pgkit.recipe import load_recipe
    from pgkit.plugins.registry import default_registry

    recipe = load_recipe(recipe_path, overrides)
    check_compatibility(recipe, default_registry())
    return recipe


def _train(args: argparse.Namespace) -> int:
    from pgkit.runtime.run import new_run_dir
    from pgkit.runtime.training import load_for_resume, train

    if (args.fresh_envs or args.trusted_recipe is not None) and args.resume is None:
        raise PgkitError("--fresh-envs and --recipe go with --resume RUN_DIR")
    if args.address is not None and args.seeds is None:
        raise PgkitError("--address goes with --seeds (the seeds run as Ray tasks); a single run collects on Ray through trainer.workers")
    if args.seeds is not None:
        return _train_seeds(args)
    if args.resume is not None:
        if args.recipe is not None and "=" in str(args.recipe):  # `--resume DIR key=value`: the override landed here
            args.overrides, args.recipe = [str(args.recipe), *args.overrides], None
        if args.recipe is not None or args.run_dir is not None:
            raise PgkitError("--resume continues a run folder with its own recipe: give no RECIPE or --run-dir")
        recipe, checkpoint = load_for_resume(args.resume, args.overrides, fresh_envs=args.fresh_envs, recipe_file=args.trusted_recipe)
        print(f"resuming {args.resume} at step {checkpoint['step']:,}", file=sys.stderr)
        _, run = train(recipe, args.resume, resume=checkpoint)
        run_dir = args.resume
    else:
        if args.recipe is None:
            raise PgkitError("give a recipe file to train, or --resume RUN_DIR")
        recipe = _load_checked(args.recipe, args.overrides)
        run_dir = args.run_dir or new_run_dir(recipe)
        print(f"training {recipe.name} on {recipe.settings.env.id} (seed {recipe.settings.seed}) -> {run_dir}", file=sys.stderr)
        _, run = train(recipe, run_dir, replace=args.force)
    m = run.last_metrics
    print(
        f"done: {m.get('steps', 0):,.0f} steps in {m.get('time', math.nan):.1f} s "
        f"({m.get('steps_per_second', math.nan):,.0f} steps/s); mean return of the last episodes "
        f"{m.get('return_mean', math.nan):.1f}\nrun saved to {run_dir}  (evaluate: pgkit eval {run_dir})"
    )
    return 0


def _bench_run(args: argparse.Namespace) -> int:
    from pgkit.cli.bench import run_suite
    from pgkit.cli.suite import load_suite

    if args.workers < 1:
        raise PgkitError("--workers must be at least 1")
    suite = load_suite(args.suite)
    run_suite(suite, args.out, args.workers, args.address)
    print(f"results in {args.out / 'results.jsonl'}  (report: pgkit bench report {args.suite} {args.out})")
    return 0


def _bench_report(args: argparse.Namespace) -> int:
    from pgkit.cli.bench import RESULTS_FILE, read_results
    from pgkit.cli.scores import format_report, report
    from pgkit.cli.suite import load_suite

    if args.reps < 100:
        raise PgkitError("--reps must be at least 100 bootstrap resamples")
    suite = load_suite(args.suite)

    def results_of(path: Path) -> list[dict]:
        path = path / RESULTS_FILE if path.is_dir() else path
        if not path.is_file():
            raise PgkitError(f"no results file at {path}; `pgkit bench run` writes one")
        rows = [row for row in read_results(path) if row["task"] in suite.tasks]
        if not rows:
            raise PgkitError(f"{path} holds no result of the suite's tasks ({', '.join(suite.tasks)})")
        return rows

    normalise = {name: task.normalised for name, task in suite.tasks.items() if task.random is not None}
    data = report(results_of(args.results), normalise, results_of(args.against) if args.against else None, args.reps)
    published = {name: (task.published.score, task.published.source) for name, task in suite.tasks.items() if task.published}
    print(format_report(data, published))
    if args.json is not None:
        args.json.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from pgkit.recipe.settings import MAX_SEED
    from pgkit.runtime.evaluation import MAX_EPISODE_STEPS, evaluate
    from pgkit.runtime.loading import load_agent, load_self_play_pool

    if args.max_episode_steps is None:
        args.max_episode_steps = MAX_EPISODE_STEPS
    if not 1 <= args.episodes <= 1_000_000 or args.max_episode_steps < 1:
        raise PgkitError("--episodes must be from 1 to 1,000,000 and --max-episode-steps at least 1")
    if not 0 <= args.seed <= MAX_SEED - args.episodes:
        raise PgkitError(f"--seed must be from 0 to {MAX_SEED - args.episodes:,} (episode i resets with seed + i, at most 2**32 - 1)")
    if args.video is not None:
        writable_folder(args.video, "--video")
    agent, env = load_agent(args.path, recipe_file=args.trusted_recipe)
    opponents = [load_agent(path)[0] for path in args.against or []]
    pool = load_self_play_pool(args.path, agent) if args.against_pool else []
    opponents += pool
    with progress_bar(f"evaluating on {env.id}", args.episodes) as progress:
        result = evaluate(agent, env, args.episodes, args.seed, deterministic=not args.stochastic, video_dir=args.video,
                          max_episode_steps=args.max_episode_steps, progress=progress, opponents=opponents or None)
    if result.cut:
        print(f"note: {result.describe_cut()}", file=sys.stderr)
    success = f"; success rate {result.success_rate:.2f}" if result.success_rate is not None else ""
    print(f"{env.id}: mean return {result.mean:.2f} +/- {result.std:.2f} over {args.episodes} episodes{success}")
    for name, returns in (result.groups or {}).items():
        print(f"  group {name}: mean return {statistics.fmean(returns):.2f} +/- {statistics.pstdev(returns):.2f}")
    if opponents or result.opponent:
        outcomes = [sum(r > 0 for r in result.returns), sum(r == 0 for r in result.returns), sum(r < 0 for r in result.returns)]
        named = [*(str(path) for path in args.against or []), *([f"the run's pool of {len(pool)} past selves"] if pool else []),
                 *([result.opponent] if result.opponent else [])]
        print("against {}: {} wins, {} draws, {} losses".format(", ".join(named), *outcomes))
    if args.video is not None:
        print(f"videos in {args.video}")
    return 0


def _variance(args: argparse.Namespace) -> int:
    import time

    from pgkit.cli.variance import compare_recipes, plot, table

    if not 2 <= args.batches <= MAX_BATCHES or not 0 <= args.critic_batches <= MAX_BATCHES:
        raise PgkitError(f"--batches must be from 2 to {MAX_BATCHES:,} and --critic-batches from 0 to {MAX_BATCHES:,} "
                         "(the statistics settle within a few hundred batches)")
    if args.plot is not None:
        from pgkit.cli.plotting import pyplot

        writable_file(args.plot, "--plot")  # before minutes of estimates
        pyplot("pgkit variance --plot", args.plot)
    recipes = [_load_checked(path, []) for path in args.recipes]
    started = time.perf_counter()
    estimates, statistics, origin = compare_recipes(recipes, args.batches, args.critic_batches, args.checkpoint)
    names = [str(path) for path in args.recipes]
    print(f"{args.batches} gradient estimates per recipe from {origin}; critics first fitted on {args.critic_batches} batches; "
          f"95% bootstrap intervals over batches ({time.perf_counter() - started:.0f} s)")
    print(table(names, estimates, statistics))
    if args.plot is not None:
        plot(names, statistics, args.plot)
        print(f"plot: {args.plot}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from pgkit.runtime.loading import load_agent, load_self_play_pool
    from pgkit.runtime.export import export_policy

    agent, _ = load_agent(args.path, recipe_file=args.trusted_recipe)
    folder = args.path if args.path.is_dir() else args.path.parent
    out = args.out or folder / ("policy.onnx" if args.format == "onnx" else "policy.pt")
    writable_file(out, "--out")
    export_policy(agent, out, args.format)
    loader = "onnxruntime.InferenceSession(path).run(None, {'obs': obs})[0]" if args.format == "onnx" else "torch.jit.load(path)(obs)"
    print(f"{out}: raw observations [batch, ...] -> actions (the policy's mode); load with {loader}")
    return 0


def _plot(args: argparse.Namespace) -> int:
    from pgkit.cli.plotting import plot_runs

    writable_file(args.out, "--out")
    groups = plot_runs(args.runs, args.out)
    print(f"{args.out}: " + ", ".join(f"{name} ({count} run{'s' if count > 1 else ''})" for name, count in groups.items()))
    return 0


def _train_seeds(args: argparse.Namespace) -> int:
    import os

    from pgkit.cli.seeds import SeedJob, train_one_seed
    from pgkit.runtime.job_processes import values_in_processes
    from pgkit.runtime.run import new_run_dir

    seeds = list(_seed_list(args.seeds))
    if args.resume is not None or args.recipe is None:
        raise PgkitError("--seeds needs a recipe, and cannot be used with --resume")
    recipe = _load_checked(args.recipe, args.overrides)  # validate once, before starting processes
    root = args.run_dir or new_run_dir(recipe)
    jobs = [SeedJob(str(args.recipe.resolve()), tuple(args.overrides), seed, str((root / f"seed-{seed}").resolve()), args.force) for seed in seeds]
    if args.address is not None:
        from pgkit.runtime.ray_cluster import connect_ray

        ray = connect_ray(args.address, 1, "--address")
        print(f"training {recipe.name} with seeds {seeds} as Ray tasks on {args.address} -> {root}", file=sys.stderr)
        task = ray.remote(num_cpus=1)(train_one_seed)
        results = ray.get([task.remote(job) for job in jobs])
    else:
        workers = min(len(seeds), os.cpu_count() or 1)
        print(f"training {recipe.name} with seeds {seeds} in {workers} processes -> {root}", file=sys.stderr)
        try:
            results = values_in_processes(train_one_seed, jobs, workers)
        except TrainingInterrupted as exc:
            raise TrainingInterrupted(f"{exc}; continue a seed with: pgkit train --resume {root}/seed-N", exc.exit_code) from None
    for seed, (mean, std) in zip(seeds, results):
        print(f"seed {seed}: eval mean return {mean:.2f} +/- {std:.2f}  ({root / f'seed-{seed}'})")
    means = [mean for mean, _ in results]
    spread = (sum((m - sum(means) / len(means)) ** 2 for m in means) / len(means)) ** 0.5
    print(f"across {len(seeds)} seeds: eval mean {sum(means) / len(means):.2f} +/- {spread:.2f}  (plot: pgkit plot {root}/seed-*)")
    return 0


def _tune(args: argparse.Namespace) -> int:
    from pgkit.cli.tune import Study, is_dimension, load_space, results, run_share, yaml_value

    if args.trials < 1 or args.jobs < 1 or args.eval_episodes < 1 or args.heartbeat < 1:
        raise PgkitError("--trials, --jobs, --eval-episodes and --heartbeat must be at least 1")
    if args.space is not None and not args.space.is_file():
        raise PgkitError(f"--space {args.space}: no such file")
    overrides = [item for item in args.overrides if not is_dimension(item)]
    dimensions = load_space([item for item in args.overrides if is_dimension(item)], args.space)
    for end in ("low", "high"):  # every path and both ends of each range make a valid recipe
        values = [d.choices[0 if end == "low" else -1] if d.kind == "choice" else yaml_value(getattr(d, end)) for d in dimensions]
        recipe = _load_checked(args.recipe, [*overrides, *(f"{d.path}={value}" for d, value in zip(dimensions, values))])
    out = args.out or Path("runs") / f"tune-{recipe.name}"
    writable_folder(out, "--out")
    out.mkdir(parents=True, exist_ok=True)
    storage = args.storage or f"sqlite:///{(out / 'study.db').resolve()}"
    study = Study(str(args.recipe.resolve()), tuple(overrides), tuple(dimensions), storage, args.study or recipe.name,
                  args.trials, _seed_list(args.seeds) if args.seeds else (), args.eval_episodes, args.score, args.heartbeat)
    study.load()  # creates the study (once) before the jobs share it
    print(f"tuning {recipe.name}: {len(dimensions)} fields, up to {args.trials} trials, {args.jobs} at once -> {storage}", file=sys.stderr)
    if args.address is not None:
        from pgkit.runtime.ray_cluster import connect_ray

        ray = connect_ray(args.address, args.jobs, "--address")
        ran = sum(ray.get([ray.remote(num_cpus=1)(run_share).remote(study) for _ in range(args.jobs)]))
    elif args.jobs > 1:
        from pgkit.runtime.job_processes import values_in_processes

        ran = sum(values_in_processes(run_share, [study] * args.jobs, args.jobs))
    else:
        ran = run_share(study)
    print(f"{ran} trials run now\n{results(study, out)}")
    return 0


def _seed_list(text: str) -> tuple[int, ...]:
    """``--seeds 0,1,2``: distinct seeds, at least one."""
    from pgkit.recipe.settings import MAX_SEED

    try:
        seeds = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise PgkitError(f"--seeds takes comma-separated integers, e.g. 0,1,2 (got {text!r})") from None
    if not seeds or len(set(seeds)) != len(seeds) or not all(0 <= seed <= MAX_SEED for seed in seeds):
        raise PgkitError(f"--seeds takes distinct seeds from 0 to {MAX_SEED}, at least one (got {text!r})")
    return seeds


def _check(args: argparse.Namespace) -> int:
    recipe = _load_checked(args.recipe, args.overrides)
    print(f"{args.recipe}: ok")
    for slot, value in recipe.to_dict().items():
        if isinstance(value, (dict, list)):
            print(f"  {slot}: {json.dumps(value)}")
    return 0


def _components(args: argparse.Namespace) -> int:
    from pgkit.kinds import KINDS
    from pgkit.plugins.registry import default_registry

    registry = default_registry()
    if args.kind is not None and args.kind not in KINDS:
        raise PgkitError(f"unknown kind '{args.kind}'; kinds are: {', '.join(KINDS)}")
    for kind in [args.kind] if args.kind else KINDS:
        print(f"{kind}:")
        for registration in registry.of_kind(kind):
            cls = registration.cls
            print(f"  {registration.name}  ({registration.plugin.name} {registration.plugin.version})  {cls.summary()}")
            for line in describe_capabilities(cls) + describe_spec(cls.Spec):
                print(f"      {line}")
    return 0


def describe_capabilities(cls) -> list[str]:
    """What the component provides and requires with default parameters (nothing if it has no defaults)."""
    try:
        component = cls()
    except Exception:  # required parameters: no default form
        return []
    parts = [f"{label}: {', '.join(sorted(c.name for c in capabilities))}"
             for label, capabilities in (("provides", component.provides), ("requires", component.requires)) if capabilities]
    return ["; ".join(parts)] if parts else []


def describe_spec(spec_cls) -> list[str]:
    """One line per field: name, type, default, bounds, description."""
    schema = spec_cls.model_json_schema()
    lines = []
    for name, field in spec_cls.model_fields.items():
        prop = schema.get("properties", {}).get(name, {})
        kind = _type_name(prop)
        bounds = ", ".join(
            f"{symbol} {prop[key]}"
            for key, symbol in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<"))
            if key in prop
        )
        default = "required" if field.is_required() else f"default {json.dumps(field.get_default(call_default_factory=True), default=str)}"
        extra = f"; {bounds}" if bounds else ""
        lines.append(f"{name}: {kind} ({default}{extra}) {field.description or ''}".rstrip())
    return lines


def _type_name(prop: dict) -> str:
    if "enum" in prop:
        return " | ".join(json.dumps(v) for v in prop["enum"])
    if "anyOf" in prop:
        return " | ".join(_type_name(p) for p in prop["anyOf"])
    if prop.get("type") == "array" and "items" in prop:
        items = prop["items"]
        return f"list[{_type_name(items)}]" if isinstance(items, dict) else "list"
    return prop.get("type", "any")


def _schema(args: argparse.Namespace) -> int:
    from pgkit.plugins.registry import default_registry
    from pgkit.cli.schema import recipe_schema

    if args.out is not None:
        writable_file(args.out, "--out")
    text = json.dumps(recipe_schema(default_registry()), indent=1)
    if args.out is None:
        print(text)
    else:
        args.out.write_text(text + "\n")
        print(f"wrote {args.out}; e.g. in VS Code's YAML extension: \"yaml.schemas\": {{\"{args.out}\": \"recipes/*.yaml\"}}")
    return 0


def _plugins(args: argparse.Namespace) -> int:
    from pgkit.kinds import KINDS
    from pgkit.plugins.registry import default_registry

    registry = default_registry()
    for plugin in registry.plugins:
        provided = {kind: [r.name for r in registry.of_kind(kind) if r.plugin == plugin] for kind in KINDS}
        print(f"{plugin.name}  ({plugin.distribution} {plugin.version})")
        for kind, names in provided.items():
            if names:
                print(f"    {KINDS[kind].hook}: {', '.join(names)}")
    return 0


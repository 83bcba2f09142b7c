"""``pgkit tune``: an Optuna study over a recipe's fields (as rl-baselines3-zoo's hyperparameter search),
kept in a real database through Optuna's RDB storage, so that several processes, machines or Ray tasks
share one study and a re-run continues it.

Each trial trains the recipe with sampled values, reports the rolling training return at each tenth of
its budget to a median pruner, and is worth its ``score`` (see ``SCORES``): by default the mean return of
the final policy's mode over ``eval_episodes`` episodes. TPE samples the values. A trial whose process dies
stops sending heartbeats; the next process to look fails it and runs its values again."""

from __future__ import annotations

import logging
import math
import os
import socket
import sys
import time
import warnings
from functools import partial
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pgkit.errors import PgkitError, TrainingInterrupted
from pgkit.kinds.logger import Logger

KINDS = {"float": "float:LOW:HIGH", "log": "log:LOW:HIGH", "int": "int:LOW:HIGH", "choice": "choice:A,B,..."}
STARTUP_TRIALS = 5  # random trials before TPE models the results, and before the pruner prunes
WARMUP_TENTHS = 3  # the pruner leaves every trial's first 30% alone
SCHEMA_ATTEMPTS = 5
HELD_OUT_SEEDS = 6  # the seeds best.yaml is suggested to be checked on, after those the study chose it on
SCORES = {  # what a trial is worth on a seed (over several seeds: the mean), as best.yaml's header names it
    "eval": "mean return of the final policy's mode",
    "peak": "highest rolling training return",  # the mean of the last trainer.log_window episodes: the benchmarks' bar
    "area": "mean rolling training return over the budget's tenths",  # learning sooner scores higher
}


@dataclass(frozen=True)
class Dimension:
    """One recipe field's search range: float, log (a float sampled on a log scale), int, or choice."""

    path: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    choices: tuple[str, ...] = ()  # YAML texts (Optuna's categorical values are plain scalars)

    @classmethod
    def parse(cls, path: str, text: str) -> Dimension:
        kind, _, rest = str(text).partition(":")
        if kind not in KINDS or not rest:
            raise PgkitError(f"search space {path}={text}: not a range; write {path}=" + " or ".join(KINDS.values()))
        if kind == "choice":
            return cls.choice(path, [choice.strip() for choice in rest.split(",") if choice.strip()], text)
        try:
            low, high = (int(bound) if kind == "int" else float(bound) for bound in rest.split(":"))
        except ValueError:
            raise PgkitError(f"search space {path}={text}: write {path}={KINDS[kind]} with {kind} numbers") from None
        if not low < high or (kind == "log" and low <= 0):
            raise PgkitError(f"search space {path}={text}: needs LOW < HIGH" + (" and LOW > 0 on a log scale" if kind == "log" else ""))
        return cls(path, kind, low, high)

    @classmethod
    def choice(cls, path: str, values: list, text: str) -> Dimension:
        """A choice among ``values`` (YAML texts from the command line, or values from a --space file)."""
        if len(values) < 2:
            raise PgkitError(f"search space {path}={text}: a choice needs at least two values, e.g. {path}=choice:tanh,relu")
        choices = []
        for value in values:
            if isinstance(value, str):
                try:
                    yaml.safe_load(value)
                except yaml.YAMLError:
                    raise PgkitError(f"search space {path}={text}: {value!r} is not a value (commas split the choices); for lists "
                                     f"use a --space file: `{path}: {{choice: [[64, 64], [256, 256]]}}`") from None
                choices.append(value)
            else:
                choices.append(yaml_value(value))
        return cls(path, "choice", choices=tuple(choices))

    def suggest(self, trial: Any) -> Any:
        if self.kind == "choice":
            return yaml.safe_load(trial.suggest_categorical(self.path, list(self.choices)))
        if self.kind == "int":
            return trial.suggest_int(self.path, int(self.low), int(self.high))
        return trial.suggest_float(self.path, self.low, self.high, log=self.kind == "log")

    def value(self, sampled: Any) -> Any:
        """A value Optuna stored for this dimension, as the recipe takes it."""
        return yaml.safe_load(sampled) if self.kind == "choice" else sampled


def _dimension(path: str, value: Any) -> Dimension:
    """A range written as text (``float:0.8:1.0``) or, in a --space file, as {choice: [values]}."""
    if isinstance(value, dict) and list(value) == ["choice"] and isinstance(value["choice"], list):
        return Dimension.choice(path, value["choice"], f"{{choice: {value['choice']}}}")
    return Dimension.parse(path, str(value))


def is_dimension(item: str) -> bool:
    """Whether a command-line ``path=value`` is a search range (``path=float:...``) rather than an override."""
    _, _, value = item.partition("=")
    return value.partition(":")[0] in KINDS


def load_space(items: list[str], space_file: Path | None) -> list[Dimension]:
    """The dimensions given on the command line (``path=kind:...``) and in a YAML file (``path: kind:...``)."""
    entries = [tuple(item.split("=", 1)) for item in items]
    if space_file is not None:
        try:
            document = yaml.safe_load(space_file.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise PgkitError(f"--space {space_file}: {exc}") from None
        if not isinstance(document, dict):
            raise PgkitError(f"--space {space_file}: write one `path: RANGE` line per field, e.g. advantage.lam: float:0.8:1.0, "
                             "or network.hidden_sizes: {choice: [[64, 64], [256, 256]]}")
        entries += list(document.items())
    dimensions = [_dimension(str(path), value) for path, value in entries]
    if not dimensions:
        raise PgkitError("pgkit tune needs a search space: e.g. advantage.lam=float:0.8:1.0 optimizer.lr=log:1e-5:1e-2, or --space FILE")
    paths = [dimension.path for dimension in dimensions]
    if len(set(paths)) != len(paths):
        raise PgkitError(f"search space: a field is given twice ({', '.join(sorted({p for p in paths if paths.count(p) > 1}))})")
    return dimensions


@dataclass(frozen=True)
class Study:
    """What every process of a study needs (it travels to worker processes and Ray tasks)."""

    recipe: str  # the recipe file
    overrides: tuple[str, ...]
    dimensions: tuple[Dimension, ...]
    storage: str  # an SQLAlchemy URL
    name: str
    trials: int  # finished (complete or pruned) trials the study should reach
    seeds: tuple[int, ...] = ()  # each trial trains on these in turn (none: the recipe's seed)
    eval_episodes: int = 10
    score: str = "eval"  # a key of SCORES
    heartbeat: int = 60  # seconds between a running trial's heartbeats; stale after two

    def load(self) -> Any:
        """The study, created in the storage if it is not there yet (tried again while another process creates
        a new database's tables at the same moment)."""
        import optuna
        import sqlalchemy

        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # heartbeats are, since Optuna 2.8
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # pgkit prints a line per trial
        logging.getLogger("optuna.study._optimize").addFilter(INTERRUPTION_QUIETED)
        retry = optuna.storages.RetryHeartbeatStaleTrialCallback
        attempts = 0
        while True:
            try:
                storage = optuna.storages.RDBStorage(
                    self.storage, heartbeat_interval=self.heartbeat, grace_period=2 * self.heartbeat,
                    heartbeat_stale_trial_callback=retry(max_retry=2),
                )
                study = optuna.create_study(
                    study_name=self.name, storage=storage, direction="maximize", load_if_exists=True,
                    sampler=optuna.samplers.TPESampler(n_startup_trials=STARTUP_TRIALS),
                    pruner=optuna.pruners.MedianPruner(n_startup_trials=STARTUP_TRIALS, n_warmup_steps=WARMUP_TENTHS),
                )
                break
            except sqlalchemy.exc.SQLAlchemyError as exc:  # processes creating one new database's tables at once
                attempts += 1
                if attempts == SCHEMA_ATTEMPTS:
                    raise PgkitError(f"--storage {self.storage}: {str(exc).splitlines()[0]}") from None
                time.sleep(0.5)
        scored = study.user_attrs.get("score", "eval" if study.get_trials(deepcopy=False) else None)  # studies before --score: eval
        if scored is None:
            study.set_user_attr("score", self.score)
        elif scored != self.score:
            raise PgkitError(f"study {self.name} in {self.storage} scores its trials by {scored}, not {self.score}: "
                             f"continue it with --score {scored}, or start another with --study NAME or --out DIR")
        return study


class _QuietAfterInterruption(logging.Filter):
    """Drops Optuna's warnings (a traceback, then the trial's value) about a trial SIGTERM or Ctrl-C stopped:
    pgkit says why it stopped."""

    interrupted = False

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.interrupted


INTERRUPTION_QUIETED = _QuietAfterInterruption()


def run_share(study_settings: Study) -> int:
    """Run trials in this process until the study has ``trials`` finished or running ones; returns how many
    this process ran. Stale trials (their process died) are failed first, and their values queued again, as
    are those of a trial stopped by SIGTERM or Ctrl-C (which then stops this process)."""
    import optuna

    study = study_settings.load()
    ran = 0
    while True:
        optuna.storages.fail_stale_trials(study)
        counted = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
                                                           optuna.trial.TrialState.RUNNING))
        if len(counted) >= study_settings.trials:
            return ran
        study.optimize(lambda trial: run_trial(study_settings, trial), n_trials=1, callbacks=[partial(_print_trial, study_settings)])
        ran += 1


def _print_trial(study_settings: Study, study: Any, trial: Any) -> None:
    import optuna

    if trial.state == optuna.trial.TrialState.COMPLETE:
        outcome = f"value {trial.value:.2f}"
    elif trial.state == optuna.trial.TrialState.PRUNED and trial.intermediate_values:
        step, value = max(trial.intermediate_values.items())  # seed i's k-th tenth is step 10 i + k
        seed = f" on seed {study_settings.seeds[(step - 1) // 10]}" if study_settings.seeds else ""
        outcome = f"pruned at {(step - 1) % 10 + 1}0% of the budget{seed} (return {value:.1f})"
    else:
        outcome = trial.state.name.lower()
    reason = trial.user_attrs.get("error")
    params = ", ".join(f"{path}={_shown(value)}" for path, value in trial.params.items())
    print(f"trial #{trial.number}: {outcome}  ({params}){'  ' + reason if reason else ''}", file=sys.stderr, flush=True)


def run_trial(study: Study, trial: Any) -> float:
    """Train the recipe with the trial's values on each of the study's seeds in turn; the mean over seeds of
    the study's score. A trial stopped by SIGTERM or Ctrl-C is not the values' fault: they are queued again
    for when the study goes on."""
    INTERRUPTION_QUIETED.interrupted = False  # Optuna's warnings about the trial before this one have been logged
    try:
        return _scored(study, trial)
    except TrainingInterrupted:
        if trial.params:  # stopped before the values were drawn: nothing to queue
            trial.study.enqueue_trial(trial.params, skip_if_exists=False)
        INTERRUPTION_QUIETED.interrupted = True
        raise


def _scored(study: Study, trial: Any) -> float:
    """``run_trial``'s score of ``trial``."""
    from pgkit.cli.seeds import without_console
    from pgkit.recipe import load_recipe
    from pgkit.runtime.evaluation import evaluate
    from pgkit.runtime.training import train

    trial.set_user_attr("process", f"{socket.gethostname()}:{os.getpid()}")
    sampled = [f"{d.path}={yaml_value(d.suggest(trial))}" for d in study.dimensions]
    scores = []
    for index, seed in enumerate(study.seeds or (None,)):
        reporter = TrialReporter(trial, first_step=10 * index)
        try:
            recipe = without_console(load_recipe(study.recipe, [*study.overrides, *sampled, *([f"seed={seed}"] if seed is not None else [])]))
            agent, _ = train(recipe, loggers=[reporter])
        except TrainingInterrupted:
            raise
        except PgkitError as exc:  # values the recipe refuses, or a run that diverged: pruned, with the reason kept
            raise _pruned(trial, str(exc)) from None
        if study.score == "eval":
            scores.append(evaluate(agent, recipe.settings.env, study.eval_episodes, seed=10_000).mean)
        elif not reporter.tenths:
            raise _pruned(trial, f"no training episode finished, so no {study.score} score: train longer or score eval")
        else:
            scores.append(reporter.peak if study.score == "peak" else sum(reporter.tenths) / len(reporter.tenths))
        trial.set_user_attr("scores", scores)
    return sum(scores) / len(scores)


def _pruned(trial: Any, reason: str) -> Exception:
    """The TrialPruned to raise for a trial that cannot be scored, its reason kept for the trial's line."""
    import optuna

    trial.set_user_attr("error", " ".join(reason.split())[:500])
    return optuna.TrialPruned(reason)


class TrialReporter(Logger):
    """Reports the rolling training return at each tenth of the budget to the trial (as step ``first_step + k``
    at the k-th tenth: the seeds of a trial follow each other), and prunes it when the pruner says so. Keeps
    the run's ``peak`` rolling return and the return at each tenth (``tenths``; a tenth without a logged row of
    its own, or before the first finished episode, takes the next return logged)."""

    name = "trial_reporter"

    def __init__(self, trial: Any, first_step: int = 0):
        super().__init__()
        self.trial, self.first_step, self.total, self.reported = trial, first_step, 1, 0
        self.peak, self.tenths = -math.inf, []

    def start(self, run_dir: Path | None, total_steps: int, start_step: int = 0) -> None:
        self.total = total_steps

    def log(self, step: int, metrics: dict[str, float]) -> None:
        import optuna

        tenth = min(10, step * 10 // self.total)
        value = metrics.get("return_mean", math.nan)
        if not math.isfinite(value):
            return
        self.peak = max(self.peak, value)
        if tenth <= self.reported:
            return
        self.tenths += [value] * (tenth - self.reported)
        self.reported = tenth
        self.trial.report(value, self.first_step + tenth)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"return {value:.1f} at {tenth}0% of a budget is below the median of earlier trials")



def results(study_settings: Study, out: Path) -> str:
    """The results table (the best trials first) and the best recipe, written to ``out/best.yaml``."""
    import optuna

    from pgkit.recipe import apply_overrides, load_recipe

    study = study_settings.load()
    trials = study.get_trials(deepcopy=False)
    states = {state.name.lower(): sum(t.state == state for t in trials) for state in optuna.trial.TrialState}
    complete = sorted((t for t in trials if t.state == optuna.trial.TrialState.COMPLETE), key=lambda t: -t.value)
    lines = [f"study {study_settings.name} in {study_settings.storage}: " + ", ".join(f"{n} {s}" for s, n in states.items() if n)]
    if not complete:
        return "\n".join([*lines, "no trial completed yet"])
    paths = [d.path for d in study_settings.dimensions]
    lines.append("  ".join(["trial", "value", *paths, "process"]))
    for t in complete[:10]:
        lines.append("  ".join([f"#{t.number}", f"{t.value:.2f}", *(_shown(t.params.get(p)) for p in paths), t.user_attrs.get("process", "?")]))
    best = complete[0]
    chosen = [*study_settings.overrides, *(f"{d.path}={yaml_value(d.value(best.params[d.path]))}" for d in study_settings.dimensions if d.path in best.params)]
    document = apply_overrides(yaml.safe_load(Path(study_settings.recipe).read_text()), chosen, source="the best trial")
    document.setdefault("name", Path(study_settings.recipe).stem)
    load_recipe(study_settings.recipe, chosen)  # the written recipe is valid
    out.mkdir(parents=True, exist_ok=True)
    seeds = f"seeds {', '.join(map(str, study_settings.seeds))}" if study_settings.seeds else f"seed {document.get('seed', 0)}"
    header = (f"# pgkit tune: {Path(study_settings.recipe).name} as the best of {states.get('complete', 0)} complete trials of study "
              f"{study_settings.name} ran it\n# (trial #{best.number}: {SCORES[study_settings.score]} {best.value:.2f} on {seeds}"
              + (f"; with {' '.join(study_settings.overrides)}" if study_settings.overrides else "") + ")\n")
    (out / "best.yaml").write_text(header + yaml.safe_dump(document, sort_keys=False))
    chosen_on = set(study_settings.seeds or (document.get("seed", 0),))
    held_out = ",".join(str(seed) for seed in range(max(chosen_on) + 1, max(chosen_on) + 1 + HELD_OUT_SEEDS))
    lines.append(f"best recipe: {out / 'best.yaml'}  (the best of many trials on the same seeds flatters them: check it on "
                 f"others, pgkit train {out / 'best.yaml'} --seeds {held_out})")
    return "\n".join(lines)


def yaml_value(value: Any) -> str:
    """``value`` as the right-hand side of a ``key=value`` override."""
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def _shown(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)

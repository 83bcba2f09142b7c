"""Errors and warnings pgkit shows to users: each carries a message a person can act on."""

from __future__ import annotations

import traceback
from dataclasses import dataclass


class PgkitError(Exception):
    """A user-facing error: the CLI prints its message (no traceback) and exits with code 2."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a recipe: where (a dotted path), what, and how to fix it."""

    path: str
    message: str
    fix: str = ""

    def __str__(self) -> str:
        text = f"{self.path}: {self.message}" if self.path else self.message
        return f"{text}\n    fix: {self.fix}" if self.fix else text


class RecipeError(PgkitError):
    """A recipe that cannot be used; holds every problem found, not just the first, and shows the first
    SHOWN_PROBLEMS of them."""

    SHOWN_PROBLEMS = 20

    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = problems
        count = f"{len(problems)} problem" + ("s" if len(problems) != 1 else "")
        lines = [f"{source}: {count}"] + [f"  {p}".replace("\n", "\n  ") for p in problems[: self.SHOWN_PROBLEMS]]
        if len(problems) > self.SHOWN_PROBLEMS:
            lines.append(f"  ... and {len(problems) - self.SHOWN_PROBLEMS:,} more")
        super().__init__("\n".join(lines))


class CompatibilityError(RecipeError):
    """Components that are each valid but cannot work together (e.g. categorical on a Box space)."""


class ComponentLookupError(PgkitError):
    """A component name that is unknown or ambiguous."""


class ComponentError(PgkitError):
    """A component broke its kind's contract at run time (e.g. returned a tensor of the wrong shape); the
    message names the component and the plugin it came from."""


class TrainingError(PgkitError):
    """Training stopped because something went wrong that the user can fix (e.g. a NaN loss)."""


class EnvironmentFault(PgkitError):
    """The environment raised, or returned what gymnasium cannot use (an observation of the wrong shape,
    a reward that is not a number); the message names the env, the call and where it failed."""

    def __init__(self, env_id: str, call: str, exc: BaseException):
        frames = traceback.extract_tb(exc.__traceback__)
        where = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
        super().__init__(f"environment '{env_id}' failed in {call}: {type(exc).__name__}: {exc}{where}")


class TrainingInterrupted(PgkitError):
    """Training was stopped by SIGINT (Ctrl-C) or SIGTERM; a checkpoint was saved if the run keeps files.
    ``exit_code`` is what a shell expects after that signal: 130 or 143."""

    def __init__(self, message: str, exit_code: int = 130):
        super().__init__(message)
        self.exit_code = exit_code


class PluginWarning(UserWarning):
    """A plugin that could not be loaded or registered; pgkit keeps working without it."""


class RecipeWarning(UserWarning):
    """A recipe that runs but computes something other than its components' names say (see
    ``Component.caution``)."""


__all__ = [
    "CompatibilityError",
    "ComponentError",
    "ComponentLookupError",
    "EnvironmentFault",
    "PgkitError",
    "PluginWarning",
    "Problem",
    "RecipeError",
    "RecipeWarning",
    "TrainingError",
    "TrainingInterrupted",
]

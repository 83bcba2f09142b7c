"""Callback ``evaluation``: evaluation during training (the same as ``trainer.eval``), registered so that
recipes can list it under ``callback:``."""

from __future__ import annotations

from pgkit import hookimpl
from pgkit.runtime import PeriodicEvaluation


@hookimpl
def register_callbacks(register):
    register(PeriodicEvaluation)

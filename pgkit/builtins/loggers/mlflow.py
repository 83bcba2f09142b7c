"""Logger ``mlflow``: the run's recipe as MLflow parameters and every logged row as MLflow metrics
(needs the mlflow extra)."""

from __future__ import annotations

import importlib.util
import math
import time
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field

from pgkit import Spec, hookimpl
from pgkit.kinds import Logger

RUN_DIR_TAG = "pgkit.run_dir"


class MLflowSpec(Spec):
    tracking_uri: str | None = Field(
        None, description="MLflow tracking URI, e.g. sqlite:///runs/mlflow.db or http://host:5000; null: a SQLite file mlflow.db beside the run folder."
    )
    experiment: str = Field("pgkit", min_length=1, description="MLflow experiment the run is logged under.")


class MLflow(Logger):
    """Logs the resolved recipe as parameters (dotted keys) and every row as metrics against environment
    steps to an MLflow tracking store (SQLite by default: `mlflow ui --backend-store-uri sqlite:///runs/mlflow.db`);
    a resumed run continues its MLflow run."""

    name = "mlflow"
    Spec = MLflowSpec

    def incompatibility(self, combo) -> str | None:
        if importlib.util.find_spec("mlflow") is None:
            return "needs the mlflow package: pip install 'pgkit[mlflow]'"
        return None

    def start(self, run_dir: Path | None, total_steps: int, start_step: int = 0) -> None:
        self.client, self.run_id = None, None
        if run_dir is None:
            return
        from mlflow.tracking import MlflowClient

        uri = self.spec.tracking_uri or f"sqlite:///{Path(run_dir).resolve().parent / 'mlflow.db'}"
        self.client = MlflowClient(uri)
        experiment = self.client.get_experiment_by_name(self.spec.experiment)
        experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(self.spec.experiment)
        folder = str(Path(run_dir).resolve())
        earlier = self.client.search_runs([experiment_id], f"tags.`{RUN_DIR_TAG}` = '{folder}'") if start_step else []
        if earlier:  # a resumed run continues where its MLflow run stopped
            self.run_id = earlier[0].info.run_id
            return
        self.run_id = self.client.create_run(experiment_id, run_name=Path(run_dir).name, tags={RUN_DIR_TAG: folder}).info.run_id
        recipe = yaml.safe_load((Path(run_dir) / "recipe.yaml").read_text()) if (Path(run_dir) / "recipe.yaml").is_file() else {}
        for key, value in _flatten(recipe).items():
            self.client.log_param(self.run_id, key, value)

    def log(self, step: int, metrics: dict[str, float]) -> None:
        if self.client is None:
            return
        from mlflow.entities import Metric

        stamp = _now_ms()
        values = [Metric(key, float(value), stamp, step) for key, value in metrics.items() if math.isfinite(value)]
        self.client.log_batch(self.run_id, metrics=values)

    def close(self) -> None:
        if self.client is not None:
            self.client.set_terminated(self.run_id)
            self.client = None


def _flatten(document: Any, prefix: str = "") -> dict[str, str]:
    """{"a": {"b": 1}} -> {"a.b": "1"}; lists become their text (MLflow parameters are strings)."""
    if not isinstance(document, dict):
        return {prefix: str(document)[:6000]} if prefix else {}
    flat: dict[str, str] = {}
    for key, value in document.items():
        flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def _now_ms() -> int:
    return int(time.time() * 1000)


@hookimpl
def register_loggers(register):
    register(MLflow)

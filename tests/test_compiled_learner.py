"""trainer.compile: the minibatch loss compiled with torch.compile trains as eager does (to rounding), resumes
bit-exactly, and a plugin's loss that reads its metrics as floats still runs (its graph broken there); the
off-policy trainer's two losses (TD target and critic, policy) likewise, and lstm/gru networks are refused there."""

from __future__ import annotations

import sys

import pytest
import torch

from pgkit import hookimpl
from pgkit.builtins.objectives.reinforce import Reinforce
from pgkit.errors import RecipeError
from pgkit.plugins.registry import build_registry
from pgkit.recipe import resolve
from pgkit.recipe.compatibility import check_compatibility
from pgkit.runtime.training import train
from pgkit.testing import check_resume

REGISTRY = build_registry()


def _recipe(compile: bool, objective: object = "ppo_clip") -> dict:
    return {"env": {"id": "CartPole-v1", "num_envs": 4}, "network": {"type": "mlp", "hidden_sizes": [32, 32]}, "policy_head": "categorical",
            "critic": "value", "advantage": {"type": "gae", "normalize": True}, "objective": objective,
            "optimizer": {"type": "adam", "lr": 1e-3, "lr_schedule": "linear"}, "logger": [],
            "trainer": {"type": "on_policy", "total_steps": 512, "steps_per_env": 32, "epochs": 3, "minibatch_size": 64,
                        "compile": compile, "log_every": 128}}


def test_a_compiled_loss_trains_as_the_eager_one_does_to_rounding():
    eager, _ = train(resolve(_recipe(False), REGISTRY, source="test"))
    compiled, run = train(resolve(_recipe(True), REGISTRY, source="test"))
    for (name, a), (_, b) in zip(eager.policy.state_dict().items(), compiled.policy.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-4), name  # 4 batches of 3 epochs: float32 rounding, not a different update
    assert set(run.last_metrics) >= {"policy_loss", "value_loss", "approx_kl", "clip_fraction", "grad_norm"}


def test_a_compiled_run_resumes_bit_exactly(tmp_path):
    check_resume(_recipe(True), registry=REGISTRY, workdir=tmp_path)


class FloatMetricsReinforce(Reinforce):
    """A plugin written before metrics could be tensors: it reads them with .item() inside its loss."""

    name = "float_metrics_reinforce"

    def loss(self, batch, context):
        loss, metrics = super().loss(batch, context)
        return loss, {key: float(value) for key, value in metrics.items()}


@hookimpl
def register_objectives(register):
    register(FloatMetricsReinforce)


def test_a_plugin_loss_that_reads_floats_runs_compiled(pgkit_registry):
    registry = pgkit_registry(sys.modules[__name__], name="float-metrics")
    recipe = _recipe(True, "float_metrics_reinforce")
    recipe["trainer"] = {**recipe["trainer"], "epochs": 1}  # REINFORCE: one pass over each fresh batch
    _, run = train(resolve(recipe, registry), registry=registry)
    assert run.last_metrics["steps"] >= 512 and isinstance(run.last_metrics["policy_loss"], float)


def _sac_recipe(compile: bool, network: dict | None = None) -> dict:
    return {"env": {"id": "Pendulum-v1", "num_envs": 2}, "network": network or {"type": "mlp", "hidden_sizes": [32, 32]},
            "policy_head": "squashed_gaussian", "critic": "twin_q", "objective": {"type": "sac", "temperature": "auto"},
            "optimizer": {"type": "adam", "lr": 1e-3}, "replay": "uniform", "logger": [],
            "trainer": {"type": "off_policy", "total_steps": 400, "learning_starts": 100, "batch_size": 32, "target_policy": False,
                        "precision": "float32", "compile": compile, "log_every": 100}}


def test_compiled_off_policy_losses_train_as_the_eager_ones_do_to_rounding():
    """Random draws stay torch's own when compiled (fallback_random), so the runs differ by float32 rounding only."""
    eager, _ = train(resolve(_sac_recipe(False), REGISTRY, source="test"))
    compiled, run = train(resolve(_sac_recipe(True), REGISTRY, source="test"))
    for (name, a), (_, b) in zip(eager.policy.state_dict().items(), compiled.policy.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-4), name  # 300 updates of critic, policy and temperature
    assert set(run.last_metrics) >= {"value_loss", "policy_loss", "entropy", "alpha", "temperature_loss"}
    assert all(isinstance(run.last_metrics[key], float) for key in ("policy_loss", "alpha"))


def test_a_compiled_off_policy_run_resumes_bit_exactly(tmp_path):
    check_resume(_sac_recipe(True), registry=REGISTRY, workdir=tmp_path)


def test_compiled_off_policy_losses_refuse_recurrent_networks():
    with pytest.raises(RecipeError, match=r"(?s)trainer.compile does not capture.*set trainer.compile: false"):
        check_compatibility(resolve(_sac_recipe(True, {"type": "lstm", "hidden_size": 16}), REGISTRY, source="test"), REGISTRY)

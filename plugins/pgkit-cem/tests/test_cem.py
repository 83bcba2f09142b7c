"""The CEM trainer: pgkit's trainer contract, a search that improves, and the CartPole recipe."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgkit.errors import RecipeError
from pgkit.plugins.registry import default_registry
from pgkit.recipe import load_recipe, read_document
from pgkit.recipe.compatibility import check_compatibility
from pgkit.runtime.evaluation import evaluate
from pgkit.runtime.training import train
from pgkit.testing import check_trainer
from pgkit_cem import CEM

RECIPE = Path(__file__).parent.parent / "recipes" / "cartpole-cem.yaml"


def test_meets_the_trainer_contract_and_resumes_exactly():
    """No checkpoint, signal or resume code of its own: the loop gives it all."""
    document = {**read_document(RECIPE), "trainer": {"type": "cem", "total_steps": 6000, "population": 8}}
    check_trainer(CEM, recipe=document)


def test_recipe_is_valid_and_rejects_unused_slots():
    check_compatibility(load_recipe(RECIPE), default_registry())
    with pytest.raises(RecipeError, match="trainer 'cem' does not use a advantage"):
        load_recipe(RECIPE, ["advantage.type=gae"])


def test_search_improves_the_policy(tmp_path):
    recipe = load_recipe(RECIPE, ["trainer.total_steps=40000", "trainer.population=20", "logger=[csv]"])
    agent, run = train(recipe, tmp_path)
    rows = (tmp_path / "metrics.csv").read_text().splitlines()
    first_elite = float(rows[1].split(",")[rows[0].split(",").index("elite_return_mean")])
    assert run.last_metrics["elite_return_mean"] > first_elite
    assert evaluate(agent, recipe.settings.env, episodes=3).mean > 50  # a random linear policy scores ~20

"""`pgkit schema`: a JSON schema that accepts the shipped recipes and rejects broken ones."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from pgkit.cli import main
from pgkit.cli.schema import recipe_schema

ROOT = Path(__file__).parent.parent
RECIPES = sorted(ROOT.glob("recipes/*.yaml")) + sorted(ROOT.glob("plugins/*/recipes/*.yaml"))


@pytest.fixture(scope="module")
def validator():
    from pgkit.plugins.registry import default_registry

    schema = recipe_schema(default_registry())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_shipped_recipes_validate(validator, path):
    validator.validate(yaml.safe_load(path.read_text()))


@pytest.mark.parametrize(
    "document",
    [
        {"advantag": {"type": "gae"}},
        {"advantage": {"type": "gea"}},
        {"advantage": {"type": "gae", "lam": 1.5}},
        {"advantage": {"type": "gae", "lamda": 0.9}},
        {"env": {"id": "CartPole-v1", "num_envs": 0}},
        {"logger": [{"type": "csv", "filename": ""}]},
    ],
    ids=["unknown-slot", "unknown-type", "out-of-range", "unknown-field", "bad-env", "bad-logger"],
)
def test_broken_documents_are_rejected(validator, document):
    assert list(validator.iter_errors(document))


def test_cli_writes_the_schema(tmp_path, capsys):
    out = tmp_path / "recipe.schema.json"
    assert main(["schema", "--out", str(out)]) == 0
    schema = json.loads(out.read_text())
    assert "gae" in json.dumps(schema["properties"]["advantage"]) and "GAE's lambda" in out.read_text()

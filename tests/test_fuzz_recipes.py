"""Fuzzing recipe documents: pgkit accepts each, or rejects it with its own errors carrying paths;
no other exception ever escapes. YAML is loaded safely."""

from __future__ import annotations

import math

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pgkit.recipe.compatibility import check_compatibility
from pgkit.errors import CompatibilityError, RecipeError
from pgkit.kinds import KINDS
from pgkit.recipe import read_document, resolve
from pgkit.recipe.resolve import SETTINGS_KEYS
from pgkit.plugins.registry import build_registry

REGISTRY = build_registry(entry_points=False)
NAMES = sorted({r.name for kind in KINDS for r in REGISTRY.of_kind(kind)})
FIELDS = sorted({f for kind in KINDS for r in REGISTRY.of_kind(kind) for f in r.cls.Spec.model_fields})

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["nan", "inf", "-1e999", "", "CartPole-v1", "Pendulum-v1", *NAMES]),
    st.text(max_size=12),
)
junk = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
component = st.one_of(
    st.sampled_from(NAMES),
    st.fixed_dictionaries({"type": st.sampled_from(NAMES)}, optional={f: junk for f in FIELDS[:40]}),
    st.dictionaries(st.sampled_from(["type", *FIELDS]), junk, max_size=4),
    junk,
)
env = st.one_of(
    st.fixed_dictionaries({"id": st.sampled_from(["CartPole-v1", "Pendulum-v1", "NoSuchEnv-v0"])}, optional={"num_envs": junk, "kwargs": junk, "normalize": junk}),
    junk,
)
documents = st.fixed_dictionaries(
    {},
    optional={**{kind: component for kind in KINDS}, "env": env, **{key: junk for key in SETTINGS_KEYS if key != "env"}, "extra_key": junk},
)


def check(document) -> None:
    try:
        recipe = resolve(document, REGISTRY, source="fuzz")
    except RecipeError as exc:
        assert exc.problems and all(isinstance(p.path, str) and p.message for p in exc.problems)
        assert all(p.path for p in exc.problems), [str(p) for p in exc.problems]
        return
    try:
        check_compatibility(recipe, REGISTRY)
    except CompatibilityError as exc:
        assert exc.problems and all(p.path for p in exc.problems)
    assert isinstance(yaml.safe_dump(recipe.to_dict()), str)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_documents_are_accepted_or_rejected_with_paths(document):
    check(document)


@settings(max_examples=100, deadline=None)
@given(documents)
def test_the_same_through_yaml_text(tmp_path_factory, document):
    path = tmp_path_factory.mktemp("fuzz") / "recipe.yaml"
    try:
        path.write_text(yaml.safe_dump(document))
    except (yaml.YAMLError, ValueError):  # e.g. a string YAML cannot represent
        return
    try:
        loaded = read_document(path)
    except RecipeError as exc:
        assert exc.problems
        return
    check(loaded)


def test_yaml_tags_that_construct_objects_are_refused(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("env: !!python/object/apply:os.system ['echo pwned']\n")
    try:
        read_document(path)
    except RecipeError as exc:
        assert "invalid YAML" in str(exc)
    else:
        raise AssertionError("an object-constructing tag was accepted")


def test_nan_strings_and_huge_numbers_get_paths():
    document = {"env": {"id": "CartPole-v1", "num_envs": 10**30}, "seed": "nan", "policy_head": "categorical",
                "advantage": {"type": "gae", "gamma": math.inf}, "objective": "reinforce", "optimizer": {"type": "adam", "lr": "nan"}}
    try:
        resolve(document, REGISTRY)
    except RecipeError as exc:
        paths = {p.path for p in exc.problems}
        assert {"env.num_envs", "seed", "advantage.gamma", "optimizer.lr"} <= paths
    else:
        raise AssertionError("accepted")

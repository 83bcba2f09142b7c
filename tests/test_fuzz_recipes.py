"""Fuzzing recipe documents (3,000 cases; with test_fuzz_cli.py more than 10,000): pgkit accepts each, or
rejects it with its own errors carrying paths; no other exception ever escapes. YAML is loaded safely,
and documents that would hang or overflow the loader are refused."""

from __future__ import annotations

import math
import time

import pytest
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


@settings(max_examples=1_500, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_documents_are_accepted_or_rejected_with_paths(document):
    check(document)


@settings(max_examples=1_500, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
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


def billion_laughs(levels: int = 10) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join([*lines, f"trainer: {{type: on_policy, total_steps: *a{levels - 1}}}", "env: {id: CartPole-v1}"]) + "\n"


ALIAS_CHAIN = "".join(f"a{i}: &a{i} [{'[' * 60}{f'*a{i - 1}' if i else '1'}{']' * 60}]\n" for i in range(5))


@pytest.mark.parametrize("text, problem", [
    (billion_laughs(), "line 6, column 5: aliases expand this document to more than 100,000 values"),
    ("env: " + "[" * 5000 + "]" * 5000 + "\n", "line 1, column 105: nested more than 100 levels deep"),
    (ALIAS_CHAIN, "aliases nest this document more than 100 levels deep"),
    ("env: &a {id: CartPole-v1, kwargs: {x: *a}}\n", "line 1, column 6: an alias refers to a value that contains it"),
])
def test_alias_bombs_deep_nesting_and_recursive_aliases_are_refused_at_once(tmp_path, text, problem):
    """The 11-line alias bomb (9**10 values once expanded) hung `pgkit check`; 5,000 levels of nesting and a
    recursive alias gave tracebacks. Each is now one problem naming the line, found in milliseconds."""
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    started = time.perf_counter()
    with pytest.raises(RecipeError) as info:
        read_document(path)
    assert time.perf_counter() - started < 5  # a generous bound on a hang, not a speed claim
    assert problem in str(info.value) and "write the recipe out plainly" in str(info.value)


def test_aliases_within_bounds_still_work(tmp_path):
    path = tmp_path / "anchors.yaml"
    path.write_text("x: &net {type: mlp, hidden_sizes: [64, 64]}\nnetwork: *net\nenv: {id: CartPole-v1}\n")
    assert read_document(path)["network"] == {"type": "mlp", "hidden_sizes": [64, 64]}


def test_a_hundred_thousand_unknown_keys_print_a_few_lines():
    with pytest.raises(RecipeError) as info:
        resolve({f"key{i}": 1 for i in range(100_000)} | {"env": {"id": "CartPole-v1"}}, REGISTRY)
    assert len(info.value.problems) == 100_004  # and four missing slots
    assert len(str(info.value).splitlines()) < 50 and str(info.value).endswith("... and 99,984 more")


@pytest.mark.parametrize("text, problem", [
    ("seed: !!float abc\n", "a tagged value does not convert"),
    ("seed: !!int 1.5\n", "a tagged value does not convert"),
    ("seed: !!timestamp x\n", "a tagged value does not convert"),
    ("seed: 1\nseed: 2\n", "line 2, column 1: key 'seed' appears twice in this mapping"),
    ("env: {id: CartPole-v1, id: Acrobot-v1}\n", "key 'id' appears twice"),
    ('extends: "a\\0b"\n', "extends: must be a path to another recipe file"),
    ("extends: " + "x" * 5000 + "\n", "File name too long"),
])
def test_yaml_that_does_not_convert_or_repeats_a_key_is_refused(tmp_path, text, problem):
    """Issue 27: these gave tracebacks (tags, NUL and over-long extends) or were silently accepted (a key twice:
    YAML keeps the last)."""
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    with pytest.raises(RecipeError) as info:
        read_document(path)
    assert problem in str(info.value)

"""Fuzzing what users hand pgkit second-hand (issue 27): grammar-based mutations of the shipped recipes, and hostile
run folders for plot, eval, export and resume. Every case ends within a time limit with exit 0 or 2 and no
traceback; mutations that must be refused (a key written twice, a slot's key moved where nothing reads it, a tag
whose value does not convert) are refused, with the path. 5,000 cases; with test_fuzz_recipes.py and
test_fuzz_cli.py 15,000."""

from __future__ import annotations

import contextlib
import copy
import io
import math
import shutil
import signal
from pathlib import Path
from typing import Any, Iterator

import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pgkit.cli.main import main
from pgkit.errors import RecipeError
from pgkit.plugins.registry import build_registry
from pgkit.recipe import read_document, resolve
from pgkit.recipe.compatibility import check_compatibility

RECIPES = Path(__file__).parent.parent / "recipes"
SHIPPED = sorted(RECIPES.glob("*.yaml"))
DOCUMENTS = {path.name: read_document(path) for path in SHIPPED}
REGISTRY = build_registry(entry_points=False)
SECONDS_PER_CASE = 60  # a hang, not slowness
MUTATIONS, FOLDERS = 3_500, 1_500  # cases of each test

NASTY = [None, True, 0, -1, 1.5, 10**30, -(10**30), math.inf, -math.inf, math.nan, "", "abc", "a\x00b", "\x1b[31m", "x" * 500,
         [], [1, 2], {}, {"type": "mlp"}, {"a": {"b": {"c": 1}}}, "CartPole-v1", "categorical", "1e999"]
TAGS = ["!!float abc", "!!int 1.5", "!!int abc", "!!bool maybe", "!!timestamp x", "!!binary ?", "!!python/object/apply:os.system ['true']",
        "!!null x", "!!str", "!!seq x", "!!map x", "!custom 1"]


class Hang(Exception):
    pass


@contextlib.contextmanager
def bounded() -> Iterator[None]:
    def alarm(signum, frame):
        raise Hang(f"a case ran past {SECONDS_PER_CASE} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(SECONDS_PER_CASE)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run_cli(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), bounded():
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
    return code, err.getvalue()


# ---- grammar-based mutations of the shipped recipes -------------------------------------------------------------

def paths_of(document: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path in a document (mappings only), outermost first."""
    found = []
    if isinstance(document, dict):
        for key, value in document.items():
            found.append((*prefix, key))
            found += paths_of(value, (*prefix, key))
    return found


def parent_of(document: dict, path: tuple) -> dict:
    for key in path[:-1]:
        document = document[key]
    return document


@st.composite
def mutation(draw) -> tuple[str, str, dict]:
    """(kind, YAML text, facts) for one mutation of one shipped recipe; facts say what must be refused."""
    name = draw(st.sampled_from(sorted(DOCUMENTS)))
    document = copy.deepcopy(DOCUMENTS[name])
    paths = paths_of(document)
    kind = draw(st.sampled_from(["delete", "duplicate", "move_top", "move_slot", "retype", "tag", "control", "number", "rename_type"]))
    path = draw(st.sampled_from(paths))
    parent, key = parent_of(document, path), path[-1]
    facts: dict[str, Any] = {}
    if kind == "delete":
        del parent[key]
    elif kind == "retype":
        parent[key] = draw(st.sampled_from(NASTY))
    elif kind == "number":
        parent[key] = draw(st.sampled_from([math.inf, -math.inf, math.nan, 10**300, -(10**300), 2**63, 2**32, -1, 0, 1e-300]))
    elif kind == "control":
        parent[key] = f"{parent[key]}" + draw(st.sampled_from(["\x00", "\x07", "\x1b[2J", "\u202e", "\ufeff", "\r"]))
    elif kind == "move_top" and len(path) == 2 and key not in document:
        facts["refused_at"] = str(key)
        document[key] = parent.pop(key)
    elif kind == "move_slot" and len(path) == 2:
        slots = [slot for slot, value in document.items() if isinstance(value, dict) and slot != path[0] and key not in value]
        if slots:
            target = draw(st.sampled_from(slots))
            document[target][key] = parent.pop(key)
            facts["moved"] = (target, key)
    elif kind == "rename_type" and len(path) == 1 and isinstance(document[key], dict) and "type" not in document:
        document["type"] = document.pop(key)  # a slot's key renamed to `type`
        facts["refused_at"] = "type"
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    if kind == "duplicate":
        line = draw(st.sampled_from([line for line in text.splitlines() if line and not line.startswith((" ", "-"))]))
        text = f"{text}{line}\n"
        facts["duplicate"] = True
    elif kind == "tag":
        line = draw(st.sampled_from(text.splitlines()))
        indent, _, rest = line.partition(line.lstrip())
        head, colon, _ = line.lstrip().partition(": ")
        tag = draw(st.sampled_from(TAGS))
        text = text.replace(line, f"{indent}{head}: {tag}" if colon else line, 1)
        facts["tag"] = tag if colon else None
    return kind, text, facts


@settings(max_examples=MUTATIONS, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(mutation())
def test_mutated_recipes_are_checked_or_refused_with_paths(tmp_path_factory, case):
    kind, text, facts = case
    path = tmp_path_factory.mktemp("mutated") / "recipe.yaml"
    path.write_text(text, encoding="utf-8")
    with bounded():
        try:
            recipe = resolve(read_document(path), REGISTRY, source=str(path))
            check_compatibility(recipe, REGISTRY)
        except RecipeError as exc:
            problems = exc.problems
            assert problems and all(isinstance(p.path, str) and p.message for p in problems)
            if "refused_at" in facts:
                assert any(p.path == facts["refused_at"] and p.fix for p in problems), (kind, str(exc))
            return
    assert not facts.get("duplicate"), f"a key written twice was accepted:\n{text}"
    assert not facts.get("tag") or facts["tag"] in ("!!str", "!!null x"), f"{facts['tag']} accepted:\n{text}"
    assert "refused_at" not in facts, f"{kind}: {facts} accepted:\n{text}"
    if "moved" in facts:  # accepted only where the other slot has a field of that name
        target, key = facts["moved"]
        assert key in recipe.slots[target].registration.cls.Spec.model_fields, (facts, text)


# ---- hostile run folders -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def base_run(tmp_path_factory) -> Path:
    """A run this user trained, half its budget done: resumable, evaluable, plottable."""
    run = tmp_path_factory.mktemp("base") / "run"
    code, err = run_cli(["train", str(RECIPES / "cartpole-ppo.yaml"), "trainer.total_steps=128", "trainer.steps_per_env=8",
                         "trainer.minibatch_size=32", "checkpoint_every=64", "logger=[csv]", "--run-dir", str(run)])
    assert code == 0, err
    return run


JUNK = st.one_of(st.sampled_from(NASTY), st.binary(max_size=40), st.lists(st.integers(-3, 3), max_size=3),
                 st.builds(torch.zeros, st.integers(0, 5)), st.dictionaries(st.text(max_size=4), st.integers(), max_size=2))
CHECKPOINT_FIELDS = ["recipe", "step", "elapsed", "agent", "components", "trainer", "context", "callbacks", "rng", "format", "recipe_signature"]
RECIPE_TEXTS = st.one_of(
    st.sampled_from(["- a\n- b\n", "name: [1]\nenv: {id: 3}\n", "name: x\nenv: 5\n", "env: {id: [1]}\n", "[" * 200 + "]" * 200 + "\n",
                     "a: &a [*a]\n", "name: !!float abc\n", "\x00\x01\x02", "name: ok\nname: twice\n", ""]),
    st.text(max_size=60),
)
METRICS_TEXTS = st.one_of(
    st.sampled_from(["", "x,y\n1,2\n", "step,return_mean\n1,\x002\n", "step,return_mean\n5,1\n3,2\n", "step,return_mean\n1,nan\n",
                     "step,return_mean\nabc,1\n", "step,return_mean\n1,\"" + "9" * 200_000 + "\"\n", "step,return_mean\n1,\"unclosed\n",
                     "step\n1\n2\n", "step,return_mean\n1e999,1\n-1,2\n"]),
    st.text(max_size=80),
)


@st.composite
def hostile_folder(draw) -> dict:
    """What to do to a copy of the base run: which checkpoint fields (and where inside) to replace, and new
    recipe.yaml / metrics.csv contents, plus the command to run on it."""
    changes = draw(st.lists(st.tuples(st.sampled_from(CHECKPOINT_FIELDS), st.sampled_from(["", "env", "python", "policy", "head"]), JUNK), max_size=2))
    recipe_text = draw(st.one_of(st.none(), RECIPE_TEXTS))
    metrics = draw(st.one_of(st.none(), METRICS_TEXTS, st.binary(max_size=60).map(lambda b: b"step,return_mean\n" + b)))
    command = draw(st.sampled_from(["plot", "plot", "eval", "eval", "export", "resume", "variance"]))
    return {"changes": changes, "recipe": recipe_text, "metrics": metrics, "command": command}


def apply(folder: Path, case: dict) -> None:
    if case["changes"]:
        state = torch.load(folder / "checkpoint.pt", weights_only=True)
        for field, inner, value in case["changes"]:
            target = state.get(field)
            if inner and isinstance(target, dict) and target:
                key = inner if inner in target else sorted(target, key=str)[0]
                target[key] = value
            else:
                state[field] = value
        torch.save(state, folder / "checkpoint.pt")
    if case["recipe"] is not None:
        (folder / "recipe.yaml").write_text(case["recipe"], encoding="utf-8", errors="surrogateescape")
    if case["metrics"] is not None:
        data = case["metrics"] if isinstance(case["metrics"], bytes) else case["metrics"].encode("utf-8", "surrogateescape")
        (folder / "metrics.csv").write_bytes(data)


def argv_for(command: str, folder: Path) -> list[str]:
    return {
        "plot": ["plot", str(folder), "--out", str(folder / "curves.png")],
        "eval": ["eval", str(folder), "--episodes", "1", "--max-episode-steps", "50"],
        "export": ["export", str(folder), "--format", "torchscript", "--out", str(folder / "policy.pt")],
        "resume": ["train", "--resume", str(folder), "--fresh-envs", "trainer.total_steps=192"],
        "variance": ["variance", str(RECIPES / "cartpole-ppo.yaml"), "--checkpoint", str(folder), "--batches", "2", "--critic-batches", "0"],
    }[command]


@settings(max_examples=FOLDERS, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(hostile_folder())
def test_hostile_run_folders_give_a_message_not_a_traceback(base_run, tmp_path_factory, case):
    folder = tmp_path_factory.mktemp("hostile") / "run"
    shutil.copytree(base_run, folder)
    try:
        apply(folder, case)
        code, err = run_cli(argv_for(case["command"], folder))
    finally:
        shutil.rmtree(folder.parent, ignore_errors=True)
    assert code in (0, 2), (case, code, err[-2000:])
    assert "Traceback" not in err, (case, err[-2000:])
    if case["command"] == "plot" and case["metrics"] == "step,return_mean\n5,1\n3,2\n":
        assert code == 2, err  # no silent acceptance of a damaged log


def test_the_base_run_passes_every_command(base_run, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(base_run, folder)
    for command in ("plot", "eval", "export", "variance", "resume"):
        code, err = run_cli(argv_for(command, folder))
        assert code == 0, (command, err)


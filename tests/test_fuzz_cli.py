"""Fuzzing the command line: argument vectors drawn from every command, option and override, with values
that are valid, out of range, malformed or hostile (paths outside, control characters, aliases). Every
one ends, within a time limit, with exit 0 or 2 and no traceback. With test_fuzz_recipes.py's documents
this makes more than 10,000 cases (issue 17)."""

from __future__ import annotations

import contextlib
import io
import os
import signal
from pathlib import Path
from typing import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pgkit.cli.main import main

RECIPES = Path(__file__).parent.parent / "recipes"
CASES = 7_000
SECONDS_PER_CASE = 60  # a hang, not slowness: the slowest case trains 64 steps

KEYS = [
    "seed", "device", "name", "torch_threads", "checkpoint_every", "env", "env.id", "env.num_envs", "env.kwargs",
    "env.normalize.obs", "env.normalize.reward", "env.rescale_actions", "network", "network.hidden_sizes", "network.activation",
    "policy_head", "policy_head.log_std_init", "critic", "baseline", "advantage", "advantage.gamma", "advantage.lam",
    "advantage.normalize", "objective", "objective.clip_range", "objective.entropy_coef", "optimizer", "optimizer.lr",
    "optimizer.lr_schedule", "trainer.epochs", "trainer.minibatch_size", "trainer.steps_per_env", "trainer.eval",
    "trainer.complete_episodes", "logger", "callback", "extends", "x.y.z", "trainer.type", "trainer",
]
VALUES = [
    "0", "1", "-1", "3", "0.5", "1e-3", "1e999", "-1e999", "nan", "inf", "true", "false", "null", "", "[]", "[8]", "[0]", "[-4]",
    "{}", "{a: 1}", "abc", "CartPole-v1", "Pendulum-v1", "NoSuchEnv-v0", "cuda", "cuda:3", "gpu", "cpu", "auto", "../x", "/etc",
    "a\x00b", "\x1b[31mred", "x" * 300, "4294967296", "1180591620717411303424", "[{type: csv, filename: /tmp/escape.csv}]",
    "[{type: csv, filename: sub/m.csv}]", "[console]", "[tensorboard]", "{type: evaluation, every: 8, episodes: 1}",
    "gaussian", "categorical", "gae", "reinforce", "ppo_clip", "adam", "sgd", "value", "critic", "none", "on_policy", "off_policy",
    "&a [*a]", "[[[[[[[[[[1]]]]]]]]]]", "{type: mlp, hidden_sizes: [4]}", "linear", "tanh", "relu", "'quoted'", "{every: 8}",
]
SMALL_RECIPES = ["cartpole-ppo.yaml", "cartpole-a2c.yaml", "cartpole-reinforce.yaml", "pendulum-td3.yaml", "cartpole-trpo.yaml"]
NUMBERS = ["0", "1", "2", "-1", "x", "1.5", "", "4294967295", "4294967296", "1000001", "9" * 30]
PLACES = ["RUN", "RUN/checkpoint.pt", "CORRUPT", "FILE", "FILE/below", "MISSING", "EMPTY", "NEW", "BOMB", "BAD_YAML", "/", "\x1b[2J"]

FITTING = [  # overrides that fit most recipes, so that many cases get past the checks and train
    "seed=3", "advantage.gamma=0.9", "optimizer.lr=0.001", "env.num_envs=2", "network.hidden_sizes=[8]", "checkpoint_every=16",
    "trainer.eval={every: 32, episodes: 1}", "logger=[csv]", "logger=[csv, tensorboard]", "name=fuzz", "torch_threads=2",
]
overrides = st.one_of(
    st.lists(st.sampled_from(FITTING), max_size=3),
    st.lists(st.one_of(st.sampled_from(FITTING), st.builds("{}={}".format, st.sampled_from(KEYS), st.sampled_from(VALUES))), max_size=4),
)
recipe_file = st.sampled_from([str(RECIPES / name) for name in SMALL_RECIPES])
recipe = st.one_of(recipe_file, recipe_file, st.sampled_from(PLACES))
place = st.sampled_from(PLACES)
number = st.sampled_from(NUMBERS)
option = st.sampled_from


def with_options(command: list[str], *options: tuple[str, st.SearchStrategy]) -> st.SearchStrategy:
    """``command`` followed by any subset of ``options``, each with a drawn value (None: a flag)."""
    chosen = [st.one_of(st.just([]), value.map(lambda v, name=name: [name] if v is None else [name, v])) for name, value in options]
    return st.tuples(*chosen).map(lambda parts: [*command, *(item for part in parts for item in part)])


flagged_train = with_options(
    ["train"], ("--run-dir", place), ("--resume", place), ("--force", st.none()), ("--fresh-envs", st.none()),
    ("--seeds", st.sampled_from(["0,0", "a", "-1", "", "4294967296", ",,"])),
).flatmap(lambda head: st.one_of(st.just(head), recipe.map(lambda r: [head[0], r, *head[1:]])))
run_dir = st.one_of(st.integers(0, 10**9).map("NEW/{}".format), st.sampled_from(["NEW/a", "RUN", "EMPTY", "FILE"]))
plain_train = st.builds(lambda r, folder: ["train", r, "--run-dir", folder], recipe_file, run_dir)
resume = st.builds(lambda p, flags: ["train", "--resume", p, *flags], place, st.sampled_from([[], ["--fresh-envs"], ["--force"]]))
train = st.builds(
    lambda head, extra, force, budget: [*head, *extra, *force, budget],
    st.one_of(plain_train, plain_train, plain_train, resume, flagged_train),
    overrides,
    st.sampled_from([[], ["--force"]]),
    st.just("trainer.total_steps=64"),  # last, so that a case that trains trains briefly
)
evaluate = with_options(["eval"], ("--episodes", st.sampled_from(["0", "1", "2", "-3", "x", "1000001"])), ("--seed", number),
                        ("--max-episode-steps", st.sampled_from(["0", "1", "50", "-1", "x"])), ("--stochastic", st.none()),
                        ("--video", st.sampled_from(["FILE", "FILE/below", "\x00"]))).flatmap(
    lambda head: place.map(lambda p: [head[0], p, *head[1:]]))
argv = st.one_of(
    st.builds(lambda r, o: ["check", r, *o], recipe, overrides),
    train,
    train,
    evaluate,
    st.builds(lambda p, f, out: ["export", p, "--format", f, "--out", out], place, option(["torchscript", "onnx", "pdf"]),
              st.sampled_from(["EMPTY", "FILE/below.pt", "MISSING/x.pt", "NEW/../policy.pt"])),
    st.builds(lambda p, out: ["plot", p, "--out", out], place, st.sampled_from(["EMPTY", "FILE/plot.png", "MISSING/p.png"])),
    st.builds(lambda r, b, c: ["variance", r, "--batches", b, "--critic-batches", c], recipe, option(["0", "1", "-2", "x"]), number),
    st.builds(lambda out: ["schema", "--out", out], st.sampled_from(["EMPTY", "FILE/s.json", "MISSING/s.json"])),
    st.builds(lambda kind: ["components", kind], st.sampled_from(["advantage", "trainer", "nope", "\x1b[31m", ""])),
    st.lists(st.sampled_from(["train", "eval", "--help", "--version", "-x", "plugins", "check", "--seeds", "=", "a=b"]), max_size=4),
)


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang(f"a case ran past {SECONDS_PER_CASE} s")


@pytest.fixture(scope="module")
def places(tmp_path_factory) -> Iterator[dict[str, str]]:
    root = tmp_path_factory.mktemp("fuzz-cli")
    before = os.getcwd()
    run = root / "run"
    assert main(["train", str(RECIPES / "cartpole-ppo.yaml"), "trainer.total_steps=64", "logger=[]", "--run-dir", str(run)]) == 0
    (root / "corrupt").mkdir()
    (root / "corrupt" / "checkpoint.pt").write_bytes(b"\x00" * 64)
    (root / "file.txt").write_text("text\n")
    (root / "empty").mkdir()
    (root / "bomb.yaml").write_text("a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(8)))
    (root / "bad.yaml").write_text("env: {id: [unclosed\n")
    os.chdir(root)  # runs/ of the cases that train without --run-dir
    yield {"RUN": str(run), "CORRUPT": str(root / "corrupt"), "FILE": str(root / "file.txt"), "MISSING": str(root / "missing"),
            "EMPTY": str(root / "empty"), "NEW": str(root / "new"), "BOMB": str(root / "bomb.yaml"), "BAD_YAML": str(root / "bad.yaml"),
            "ROOT": str(root)}
    os.chdir(before)


def expand(item: str, places: dict[str, str]) -> str:
    """PLACE or PLACE/rest with the fixture's path of PLACE; anything else as it is."""
    head, sep, tail = item.partition("/")
    return places[head] + sep + tail if head in places else item


def run_cli(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's usage errors (2), --help and --version (0)
            code = exc.code
    return code, err.getvalue()


@settings(max_examples=CASES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(argv)
def test_no_argument_vector_gives_a_traceback_or_hangs(places, argv):
    argv = [expand(item, places) for item in argv]
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(SECONDS_PER_CASE)
    try:
        code, err = run_cli(argv)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert code in (0, 2), (argv, code, err[-2000:])
    assert "Traceback" not in err, (argv, err[-2000:])

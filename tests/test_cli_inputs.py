"""Inputs that once passed `pgkit check` and then crashed `pgkit train` (or another command) with a
traceback (issue 17, items 7 and 8): each now ends with exit 2 and a message that names the cause."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from pgkit.cli.main import main

RECIPES = Path(__file__).parent.parent / "recipes"
PPO = str(RECIPES / "cartpole-ppo.yaml")
TD3 = str(RECIPES / "pendulum-td3.yaml")
BROKEN_ID = "pgkit-test/Broken-v0"


class BrokenEnv(gym.Env):
    """Breaks the way ``mode`` says: raises in reset or step, returns the wrong shape or a word as reward."""

    def __init__(self, mode: str = "step"):
        self.mode = mode
        self.observation_space = gym.spaces.Box(-1, 1, (3,), np.float32)
        self.action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if self.mode == "reset":
            raise RuntimeError("the simulator did not start")
        return np.zeros(3, np.float32), {}

    def step(self, action):
        if self.mode == "step":
            raise ValueError("the simulator crashed")
        obs = np.zeros(5 if self.mode == "shape" else 3, np.float32)
        return obs, "lots" if self.mode == "reward" else 0.0, False, False, {}


if BROKEN_ID not in gym.registry:
    gym.register(BROKEN_ID, entry_point=BrokenEnv, max_episode_steps=50)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    """A trained run, a corrupt checkpoint, a plain file, and a folder holding a file."""
    root = tmp_path_factory.mktemp("inputs")
    run = root / "run"
    assert main(["train", PPO, "trainer.total_steps=256", "logger=[]", "--run-dir", str(run)]) == 0
    corrupt = root / "corrupt"
    corrupt.mkdir()
    (corrupt / "checkpoint.pt").write_bytes(b"PK\x03\x04 not a checkpoint")
    plain = root / "plain.txt"
    plain.write_text("a file\n")
    return {"RUN": str(run), "CORRUPT": str(corrupt), "FILE": str(plain), "ROOT": str(root)}


CASES = {
    # recipe settings
    "seed 2**32": (["train", PPO, "seed=4294967296"], "seed: Input should be less than or equal to 4294967295"),
    "negative seed": (["train", PPO, "seed=-1"], "seed: Input should be greater than or equal to 0"),
    "device without CUDA": (["train", PPO, "device=cuda:7"], "device: 'cuda:7'"),
    "unknown device": (["train", PPO, "device=gpu"], "a device is cpu, cuda, cuda:N, mps or auto"),
    "device of odd form": (["train", PPO, "device=cuda:x"], "a device is cpu, cuda, cuda:N, mps or auto"),
    "NUL in name": (["train", PPO, "name=a\x00b"], "a run name is 1 to 100 characters"),
    "300-character name": (["train", PPO, "name=" + "x" * 300], "a run name is 1 to 100 characters"),
    "name escaping runs/": (["train", PPO, "name=../x"], "a run name is 1 to 100 characters"),
    "ANSI escape in name": (["train", PPO, "name=\x1b[31mred"], "(got '\\x1b[31mred')"),
    "huge torch_threads": (["train", PPO, "torch_threads=1000000"], "torch_threads: Input should be less than or equal to 1024"),
    "huge hidden sizes": (["train", PPO, "network.hidden_sizes=[1000000000]"], "not enough memory for the agent's networks"),
    "huge replay buffer": (["train", TD3, "trainer.buffer_size=100000000000"], "not enough memory for trainer 'off_policy'"),
    "huge num_envs": (["train", PPO, "env.num_envs=100000"], "env.num_envs: Input should be less than or equal to 4096"),
    "csv file outside the run": (["train", PPO, "logger=[{type: csv, filename: /tmp/metrics.csv}]"], "must be a relative path inside the run folder"),
    "csv file above the run": (["train", PPO, "logger=[{type: csv, filename: ../m.csv}]"], "must be a relative path inside the run folder"),
    "tensorboard folder outside": (["train", PPO, "logger=[{type: tensorboard, folder: /tmp/tb}]"], "must be a relative path inside the run folder"),
    "reward scaling off-policy": (["train", TD3, "env.normalize.reward=true"], "trainer 'off_policy' does not scale rewards"),
    # issue 27: bounds, misplaced keys, YAML that does not convert, allocations and files that cannot be made
    "2**32 epochs": (["train", PPO, "trainer.epochs=4294967296"], "trainer.epochs: Input should be less than or equal to 1000"),
    "a billion variance batches": (["variance", PPO, "--batches", "1000000000"], "--batches must be from 2 to 100,000"),
    "trainer field at the top": (["check", PPO, "epochs=3"], "'epochs' belongs at trainer.epochs: move it there"),
    "type moved up": (["check", PPO, "type=mlp"], "a component's type goes inside its slot"),
    "field in the wrong slot": (["check", PPO, "objective.lr=0.1"], "'lr' belongs at optimizer.lr"),
    "env field misnamed": (["check", PPO, "env.type=x"], "env.type: unknown field for env"),
    "a batch too large to allocate": (["train", PPO, "trainer.steps_per_env=100000000000", "logger=[]"], "not enough memory for trainer 'on_policy'"),
    "csv file is the run folder": (["train", PPO, "logger=[{type: csv, filename: .}]"], "not the run folder itself"),
    # run folders and resume
    "run folder is a file": (["train", PPO, "trainer.total_steps=64", "--run-dir", "FILE"], "is a file, not a run folder"),
    "existing run": (["train", PPO, "trainer.total_steps=64", "--run-dir", "RUN"], "holds a run already"),
    "resume a missing folder": (["train", "--resume", "ROOT/nowhere"], "has no checkpoint.pt"),
    "resume a corrupt checkpoint": (["train", "--resume", "CORRUPT"], "is not a readable pgkit checkpoint"),
    "resume with another network": (["train", "--resume", "RUN", "network.hidden_sizes=[8]", "trainer.total_steps=512"], "network: cannot change when resuming"),
    "resume on another env": (["train", "--resume", "RUN", "env.id=Acrobot-v1", "trainer.total_steps=512"], "env: cannot change when resuming"),
    "resume with normalization": (["train", "--resume", "RUN", "env.normalize.obs=true", "trainer.total_steps=512"], "env: cannot change when resuming"),
    "resume a finished run": (["train", "--resume", "RUN"], "is finished (256 of 256 steps)"),
    "fresh envs without resume": (["train", PPO, "--fresh-envs"], "--fresh-envs and --recipe go with --resume"),
    "seeds twice": (["train", PPO, "--seeds", "1,1"], "distinct seeds"),
    "seeds not numbers": (["train", PPO, "--seeds", "a,b"], "comma-separated integers"),
    "negative seeds": (["train", PPO, "--seeds", "-1"], "distinct seeds from 0"),
    # environments that break (the env is named)
    "env raises in step": (["train", PPO, f"env.id={BROKEN_ID}", "trainer.total_steps=64", "logger=[]"], f"environment '{BROKEN_ID}' failed in step: ValueError: the simulator crashed"),
    "env raises in reset": (["train", PPO, f"env.id={BROKEN_ID}", "env.kwargs={mode: reset}", "trainer.total_steps=64", "logger=[]"], f"environment '{BROKEN_ID}' failed in reset: RuntimeError"),
    "env of the wrong shape": (["train", PPO, f"env.id={BROKEN_ID}", "env.kwargs={mode: shape}", "trainer.total_steps=64", "logger=[]"], f"environment '{BROKEN_ID}' failed in step: ValueError"),
    "env with a word for reward": (["train", PPO, f"env.id={BROKEN_ID}", "env.kwargs={mode: reward}", "trainer.total_steps=64", "logger=[]"], "could not convert string to float: 'lots'"),
    # eval, export, plot, schema
    "eval seed -1": (["eval", "RUN", "--seed", "-1"], "--seed must be from 0 to"),
    "eval seed past 2**32": (["eval", "RUN", "--seed", "4294967290"], "--seed must be from 0 to"),
    "eval no episodes": (["eval", "RUN", "--episodes", "0"], "--episodes must be from 1"),
    "eval no steps": (["eval", "RUN", "--max-episode-steps", "0"], "--max-episode-steps at least 1"),
    "eval video into a file": (["eval", "RUN", "--video", "FILE"], "is a file; give a folder"),
    "eval video under a file": (["eval", "RUN", "--video", "FILE/videos"], "cannot make this folder"),
    "eval a corrupt checkpoint": (["eval", "CORRUPT"], "is not a readable pgkit checkpoint"),
    "export to a folder": (["export", "RUN", "--format", "torchscript", "--out", "ROOT"], "is a folder; give a file name"),
    "export into a missing folder": (["export", "RUN", "--format", "torchscript", "--out", "ROOT/missing/policy.pt"], "does not exist"),
    "plot to a folder": (["plot", "RUN", "--out", "ROOT"], "is a folder; give a file name"),
    "schema under a file": (["schema", "--out", "FILE/schema.json"], "does not exist"),
}


@pytest.mark.parametrize("argv, message", CASES.values(), ids=CASES.keys())
def test_each_input_gets_exit_2_and_a_message(files, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(files["ROOT"])  # runs/ of the recipes that pass, if one did
    argv = [item.replace("RUN", files["RUN"]).replace("CORRUPT", files["CORRUPT"]).replace("FILE", files["FILE"]).replace("ROOT", files["ROOT"]) for item in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    error = err[err.index("error: "):]
    assert "\x1b" not in error  # control characters are shown escaped, never obeyed (gymnasium's own warnings are colored)

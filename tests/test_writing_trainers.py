"""docs/writing-trainers.md works as written: its ARS trainer, installed from the page's own files,
trains from its recipe, stops on SIGINT and SIGTERM with a checkpoint, resumes bit-exactly, and its
tests pass, with no code of its own for checkpoints, signals or resume."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tutorial_files import first_file, install

TUTORIAL = Path(__file__).parent.parent / "docs" / "writing-trainers.md"


@pytest.fixture(scope="module")
def plugin(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    return install(TUTORIAL, tmp_path_factory.mktemp("tutorial"), "pgkit-ars")


def pgkit(env, *args) -> list[str]:
    return [sys.executable, "-m", "pgkit.cli", *map(str, args)]


def test_the_trainer_has_no_code_for_checkpoints_signals_or_resume():
    source = first_file(TUTORIAL)["body"]
    assert not re.search(r"signal|checkpoint|state_dict|resume|save|torch\.save|pickle", source)


def test_discovered(plugin):
    folder, env = plugin
    result = subprocess.run(pgkit(env, "plugins"), env=env, capture_output=True, text=True)
    assert "ars  (pgkit-ars 0.1.0)\n    register_trainers: ars" in result.stdout


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_stops_on_a_signal_and_resumes_from_the_command_line(plugin, tmp_path, signum, code):
    folder, env = plugin
    run = tmp_path / "run"
    process = subprocess.Popen(pgkit(env, "train", folder / "cartpole-ars.yaml", "trainer.total_steps=10000000", "checkpoint_every=2000", "logger=[csv]", "--run-dir", run),
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (run / "checkpoint.pt").exists():
        assert time.monotonic() < deadline and process.poll() is None, "no checkpoint appeared"
        time.sleep(0.05)
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == code and f"resume with: pgkit train --resume {run}" in err and "Traceback" not in err
    stopped_at = int(re.search(r"interrupted at step ([\d,]+)", err)[1].replace(",", ""))
    resumed = subprocess.run(pgkit(env, "train", "--resume", run, f"trainer.total_steps={stopped_at + 4000}"), env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming {run} at step {stopped_at:,}" in resumed.stderr


def test_its_tests_pass(plugin):
    folder, env = plugin
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder / "test_ars.py")],
                            env=env, capture_output=True, text=True, cwd=folder)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout

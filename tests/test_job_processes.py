"""``pgkit.runtime.job_processes``: values and exceptions come back with their jobs, a job whose process dies is
its own failure, an exception that cannot cross the pipe arrives as its text, and kill -9 of the parent takes
its children with it (none trains on orphaned)."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pgkit.errors import EnvironmentFault, PgkitError
from pgkit.runtime.job_processes import run_in_processes, values_in_processes


def raise_environment_fault(message: str) -> None:
    """An exception whose constructor takes three arguments: pickled, it cannot be rebuilt from its message."""
    raise EnvironmentFault("Counter-v0", "step", ValueError(message))


def test_each_job_comes_back_with_its_value_or_its_exception():
    outcomes = dict(run_in_processes(math.sqrt, [4.0, -1.0, 9.0], workers=2))
    assert outcomes[4.0] == 2.0 and outcomes[9.0] == 3.0
    assert isinstance(outcomes[-1.0], ValueError) and "math domain error" in str(outcomes[-1.0])


def test_a_job_whose_process_dies_fails_alone():
    outcomes = list(run_in_processes(os._exit, [3], workers=1)) + list(run_in_processes(math.sqrt, [16.0], workers=1))
    (_, died), (_, value) = outcomes
    assert isinstance(died, ChildProcessError) and "exit code 3" in str(died) and value == 4.0


def test_an_exception_that_cannot_be_unpickled_arrives_as_its_text():
    [(_, outcome)] = run_in_processes(raise_environment_fault, ["bad observation"], workers=1)
    assert type(outcome) is PgkitError and "EnvironmentFault" in str(outcome) and "bad observation" in str(outcome)


def test_values_keep_the_jobs_order_and_raise_the_first_failure():
    assert values_in_processes(math.sqrt, [9.0, 1.0, 4.0], workers=3) == [3.0, 1.0, 2.0]
    with pytest.raises(ValueError):
        values_in_processes(math.sqrt, [1.0, -1.0], workers=2)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_kill_9_of_the_parent_takes_its_children(tmp_path):
    script = textwrap.dedent("""
        import time
        from pgkit.runtime.job_processes import run_in_processes
        list(run_in_processes(time.sleep, [120.0, 120.0], workers=2))
    """)
    parent = subprocess.Popen([sys.executable, "-c", script])
    deadline, children = time.monotonic() + 60, []
    while len(children) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
        children = [pid for pid in _children_of(parent.pid) if "spawn_main" in _command_line(pid)]
    assert len(children) == 2, "the two job processes did not start in a minute"
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in children)


def _children_of(pid: int) -> list[int]:
    children = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:  # the process ended while being read
            continue
        if fields.get("PPid", "").strip() == str(pid):
            children.append(int(status.parent.name))
    return children


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for its (new) parent to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.mark.parametrize("delay", [0.0, 8.0], ids=["while-it-starts", "while-it-runs"])
def test_sigterm_stops_the_running_job_and_starts_no_other(delay):
    """A job stopped by the signal the parent passes on, whether its process is still starting (killed by it) or
    running (its handler raises), is counted as stopped, not failed; the second job never starts."""
    script = textwrap.dedent("""
        import sys, time
        from pgkit.errors import TrainingInterrupted
        from pgkit.runtime.job_processes import run_in_processes
        try:
            print(list(run_in_processes(time.sleep, [60.0, 60.0], workers=1)))
        except TrainingInterrupted as exc:
            print(exc, file=sys.stderr)
            sys.exit(exc.exit_code)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not [pid for pid in _children_of(parent.pid) if "spawn_main" in _command_line(pid)] and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(delay)
    parent.send_signal(signal.SIGTERM)
    out, err = parent.communicate(timeout=60)
    assert parent.returncode == 143, err
    assert "SIGTERM: 1 running job(s) stopped, 1 not started" in err and out == ""

"""Jobs in child processes, at most ``workers`` at once (``pgkit bench run``, ``train --seeds``, ``tune --jobs``),
with a fault model that loses only the work since each run's last checkpoint:

- SIGINT or SIGTERM to the parent starts no further job and passes the signal on, once, to each running
  child, which stops at the end of its iteration and saves a checkpoint (``pgkit.runtime.signals``; outside a
  training loop the signal's default action ends the job at once: SIGTERM the process, SIGINT as
  KeyboardInterrupt, where no ``except Exception`` turns it into an ordinary failure); the parent then raises ``TrainingInterrupted`` (exit code 130 or 143). A second signal passes on again: the
  children quit at once. Each child has its own process group, so Ctrl-C at a terminal reaches it only
  through the parent, once.
- kill -9 of the parent kills its children too (Linux's ``PR_SET_PDEATHSIG``): none runs on orphaned,
  writing into folders a rerun of the command is about to use.
- A child that dies (killed, out of memory) is that job's failure, not the others'.

Children start by ``spawn``: a fresh interpreter (about 3 s of imports here), which inherits no threads or
locks from the parent and writes to the parent's stdout and stderr as they are when it starts."""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import pickle
import signal
import sys
from collections import deque
from multiprocessing.connection import Connection, wait
from typing import Any, Callable, Iterator, TypeVar

from pgkit.errors import PgkitError, TrainingInterrupted
from pgkit.runtime.signals import HANDLED, SignalHandlers

Job = TypeVar("Job")
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def run_in_processes(function: Callable[[Job], Any], jobs: list[Job], workers: int) -> Iterator[tuple[Job, Any]]:
    """Each job with ``function(job)``'s value, or the exception it raised, as the jobs finish. After a stop
    signal the jobs it interrupted are not yielded; ``TrainingInterrupted`` says how many."""
    for index, outcome in _numbered_outcomes(function, jobs, workers):
        yield jobs[index], outcome


def _numbered_outcomes(function: Callable[[Job], Any], jobs: list[Job], workers: int) -> Iterator[tuple[int, Any]]:
    """``run_in_processes`` with each job's index in ``jobs``."""
    context = multiprocessing.get_context("spawn")
    pending, running = deque(enumerate(jobs)), {}
    with _PassedOn(running) as signals:
        try:
            while running or (pending and signals.received is None):
                while pending and len(running) < workers and signals.received is None:
                    index, job = pending.popleft()
                    receiver, sender = context.Pipe(duplex=False)
                    child = context.Process(target=_child, args=(function, job, sender, os.getpid()))
                    child.start()
                    sender.close()
                    running[receiver] = (child, index)
                for receiver in wait(list(running)):
                    child, index = running.pop(receiver)
                    outcome = _outcome(receiver, child)
                    if signals.received is not None and _stopped(outcome, child, signals.received):
                        signals.stopped += 1
                        continue
                    yield index, outcome
        finally:  # left early (the caller stopped reading, or raised): the children stop as on SIGTERM
            for receiver, (child, _) in running.items():
                child.terminate()
                child.join()
                receiver.close()
    if signals.received is not None:
        name = signal.Signals(signals.received).name
        raise TrainingInterrupted(f"{name}: {signals.stopped} running job(s) stopped, {len(pending)} not started",
                                  128 + signals.received)


def values_in_processes(function: Callable[[Job], Any], jobs: list[Job], workers: int) -> list[Any]:
    """``function(job)`` for each job, in the jobs' order; the first job's exception, raised once all ended."""
    outcomes: list[Any] = [None] * len(jobs)
    for index, outcome in _numbered_outcomes(function, jobs, workers):
        outcomes[index] = outcome
    failed = next((outcome for outcome in outcomes if isinstance(outcome, BaseException)), None)
    if failed is not None:
        raise failed
    return outcomes


def _stopped(outcome: Any, child: multiprocessing.process.BaseProcess, signum: int) -> bool:
    """Whether the job ended by the stop signal passed on: at a checkpoint (TrainingInterrupted), at once after a
    second signal or outside a training loop (SystemExit, KeyboardInterrupt), or killed by SIGTERM's default action
    outside a training loop."""
    return isinstance(outcome, (TrainingInterrupted, SystemExit, KeyboardInterrupt)) or (
        isinstance(outcome, ChildProcessError) and child.exitcode == -signum)


def _outcome(receiver: Connection, child: multiprocessing.process.BaseProcess) -> Any:
    """What the child sent, or a ChildProcessError if it died before sending (its pipe closed empty)."""
    try:
        outcome = receiver.recv()
    except EOFError:
        child.join()
        return ChildProcessError(f"the job's process died (exit code {child.exitcode}"
                                 f"{': killed by ' + signal.Signals(-child.exitcode).name if child.exitcode and child.exitcode < 0 else ''})")
    finally:
        receiver.close()
    child.join()
    return outcome


class _PassedOn(SignalHandlers):
    """Stop signals in the parent: the first starts no more jobs; each is passed on to the running children."""

    def __init__(self, running: dict[Connection, tuple[multiprocessing.process.BaseProcess, Any]]):
        super().__init__()
        self.running, self.received, self.stopped = running, None, 0

    def _handle(self, signum: int, frame) -> None:
        if self.received is None:
            self.received = signum
            print(f"{signal.Signals(signum).name}: starting no more jobs; each running one stops at its next checkpoint "
                  f"({signal.Signals(signum).name} again to stop them at once)", file=sys.stderr, flush=True)
        for child, _ in self.running.values():
            if child.pid is not None:
                try:
                    os.kill(child.pid, signum)
                except ProcessLookupError:  # it finished a moment ago
                    pass


def _child(function: Callable[[Any], Any], job: Any, sender: Connection, parent: int) -> None:
    """A job's process: its own process group, dying with the parent, sending back a value or an exception."""
    if hasattr(os, "setpgrp"):  # POSIX
        os.setpgrp()
    _die_with_parent(parent)
    try:  # outside a training loop (which saves a checkpoint first) a stop signal's default action ends the job at once
        outcome = function(job)
    except BaseException as exc:  # noqa: BLE001 - sent to the parent, which reports it with the job
        outcome = _picklable(exc)
    if hasattr(signal, "pthread_sigmask"):  # a stop signal now would cut the reply short: it has nothing left to stop
        signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
    sender.send(outcome)
    sender.close()


def _picklable(exc: BaseException) -> BaseException:
    """``exc``, or a PgkitError with its text where it would not survive the pipe (an exception whose
    constructor takes other arguments than its message cannot be unpickled)."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - any failure to round-trip
        return PgkitError(f"{type(exc).__name__}: {exc}")
    return exc


def _die_with_parent(parent: int) -> None:
    """On Linux, SIGKILL this process when its parent dies; elsewhere (no prctl) it runs its job to the end."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)

"""SIGINT (Ctrl-C) and SIGTERM (what schedulers and `timeout` send) during training: the first asks the
loop to stop at the end of the iteration, save a checkpoint and say how to resume; a second stops at once."""

from __future__ import annotations

import signal
import threading
from typing import Callable

HANDLED = (signal.SIGINT, signal.SIGTERM)


class SignalHandlers:
    """A context manager that handles SIGINT and SIGTERM with ``_handle`` inside its block, then restores the
    handlers it found. Signal handlers can only be installed in the main thread: elsewhere the block runs with
    the handlers it had."""

    def __init__(self) -> None:
        self._previous: dict[int, object] = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = {signum: signal.signal(signum, self._handle) for signum in HANDLED}
        return self

    def __exit__(self, *exc_info) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def _handle(self, signum: int, frame) -> None:
        raise NotImplementedError


class StopSignals(SignalHandlers):
    """A context manager; ``received`` is the first signal's number, or None."""

    def __init__(self, note: Callable[[str], None]):
        super().__init__()
        self.note = note
        self.received: int | None = None

    def _handle(self, signum: int, frame) -> None:
        if self.received is not None:
            if signum == signal.SIGTERM:
                raise SystemExit(128 + signum)
            raise KeyboardInterrupt
        self.received = signum
        name = signal.Signals(signum).name
        self.note(f"{name}: stopping after this iteration to save a checkpoint ({name} again to quit at once)")

    @property
    def exit_code(self) -> int:
        """What a shell expects after the received signal: 128 + its number (130 for SIGINT, 143 for SIGTERM)."""
        return 128 + (self.received or signal.SIGINT)

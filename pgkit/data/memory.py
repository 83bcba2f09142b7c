"""Refusing an allocation this machine cannot hold before making it.

Linux overcommits: asking torch for 16 GB on a 24 GB machine succeeds, and zeroing it then gets the
process killed by the kernel (exit 137, no message). Large buffers and networks check first."""

from __future__ import annotations

import os


def available_memory() -> int | None:
    """Bytes of memory available to new allocations without swapping (MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def check_memory(nbytes: int, what: str) -> None:
    """Raise MemoryError if ``nbytes`` for ``what`` exceed the memory available now."""
    available = available_memory()
    if available is not None and nbytes > available:
        raise MemoryError(f"{what} needs {nbytes / 2**30:,.1f} GiB; {available / 2**30:,.1f} GiB are available")

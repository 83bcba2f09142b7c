"""Turning an allocation that cannot succeed (networks or a replay buffer sized beyond this machine's
memory) into a message that names what was being built and what to make smaller."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from pgkit.errors import PgkitError


@contextmanager
def allocations_of(what: str, fix: str) -> Iterator[None]:
    """Run the block; torch's and numpy's failed allocations in it become a PgkitError about ``what``."""
    try:
        yield
    except MemoryError as exc:
        raise PgkitError(f"not enough memory for {what} ({exc or 'MemoryError'}); {fix}") from None
    except RuntimeError as exc:
        if "can't allocate memory" not in str(exc):
            raise
        requested = str(exc).split("you tried to allocate ")[-1].split(" bytes")[0]
        detail = f"it asked for {int(requested) / 2**30:,.1f} GiB" if requested.isdigit() else "an allocation failed"
        raise PgkitError(f"not enough memory for {what}: {detail}; {fix}") from None

"""Joining a Ray cluster (an optional extra: ``pip install 'pgkit[ray]'``) with clear errors instead of
Ray's minutes of retries, or tasks waiting forever for CPUs the cluster does not have."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

from pgkit.errors import PgkitError


def connect_ray(address: str | None, cpus: float, what: str) -> Any:
    """The ``ray`` module, joined (once per process) to the cluster at ``address`` (auto: the running local
    one or RAY_ADDRESS; HOST:PORT; ray://HOST:PORT; None: a Ray instance started in this process), which
    must have ``cpus`` CPUs for ``what`` (the recipe field or option that asked, named in errors)."""
    if address is not None:
        _send_token_if_any()
    try:
        import ray
    except ImportError:
        raise PgkitError(f"{what}: Ray is not installed; install it with: pip install 'pgkit[ray]'") from None
    if not ray.is_initialized():
        fix = "    fix: start one with `ray start --head` and give its HOST:PORT (or auto), or no address to start Ray inside the run"
        unreachable = _unreachable(address)
        if unreachable:
            raise PgkitError(f"{what}: cannot join the Ray cluster at {address!r}: {unreachable}\n{fix}")
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
        except Exception as exc:  # Ray's own exceptions, of many classes (a local instance that did not start in time, say)
            where = f"join the Ray cluster at {address!r}" if address is not None else "start Ray inside the run"
            raise PgkitError(f"{what}: cannot {where}: {type(exc).__name__}: {first_line(exc)}\n{fix}") from None
    available = ray.cluster_resources().get("CPU", 0.0)
    if cpus > available:
        raise PgkitError(f"{what}: needs {cpus:g} CPUs, and the Ray cluster has {available:g}; its tasks would wait forever\n"
                         "    fix: fewer workers or jobs, fewer CPUs each, or more nodes in the cluster")
    return ray


def _send_token_if_any() -> None:
    """Ray (2.59 on) turns token authentication on in ``ray start --head`` wherever a token file exists (and a
    local ``ray.init()`` writes one), yet a client joining by address sends the token only with
    RAY_AUTH_MODE=token (ray-project/ray#64755): set it where there is a token and the user chose no mode.
    A cluster without authentication accepts such a client too. Ray reads the mode when first imported."""
    token_file = Path(os.environ.get("RAY_AUTH_TOKEN_PATH", "~/.ray/auth_token")).expanduser()
    if "RAY_AUTH_MODE" not in os.environ and ("RAY_AUTH_TOKEN" in os.environ or token_file.is_file()):
        os.environ["RAY_AUTH_MODE"] = "token"


def _unreachable(address: str | None, timeout: float = 5.0) -> str | None:
    """Why nothing answers at a HOST:PORT or ray://HOST:PORT address (None: something does, or the address
    is auto or None)."""
    if address is None or address == "auto":
        return None
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return "not of the form HOST:PORT"
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        return f"nothing answers there ({exc.strerror or exc})"
    return None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

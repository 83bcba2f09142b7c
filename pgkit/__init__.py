"""pgkit: policy-gradient reinforcement learning as interchangeable, pluggable parts.

What plugins may import is exported from documented modules (docs/api.md): ``pgkit`` (this one),
``pgkit.kinds`` (with ``pgkit.kinds.capabilities``), ``pgkit.functional``, ``pgkit.data``,
``pgkit.envs``, ``pgkit.nn``, ``pgkit.runtime``, ``pgkit.errors`` and ``pgkit.testing``. Everything
else is private and may change.

The Python API is ``pgkit.train``, ``pgkit.load`` and ``pgkit.export`` (docs/python-api.md). The names below are imported
on first use, so that ``pgkit --help`` and ``--version`` do not load torch.
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("pgkit")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

_HOMES = {
    "Batch": "pgkit.data.batch",
    "Capability": "pgkit.kinds.capabilities",
    "Component": "pgkit.kinds.component",
    "Spec": "pgkit.kinds.component",
    "hookimpl": "pgkit.plugins.hookspecs",
    "export": "pgkit.api",
    "load": "pgkit.api",
    "train": "pgkit.api",
}

__all__ = ["Batch", "Capability", "Component", "Spec", "hookimpl", "export", "load", "train", "__version__"]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'pgkit' has no attribute {name!r}")
    value = getattr(import_module(_HOMES[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value

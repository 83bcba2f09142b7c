"""pgkit: policy-gradient reinforcement learning as interchangeable, pluggable parts.

What plugins may import is exported from documented modules (docs/api.md): ``pgkit`` (this one),
``pgkit.kinds`` (with ``pgkit.kinds.capabilities``), ``pgkit.functional``, ``pgkit.data``,
``pgkit.envs``, ``pgkit.nn``, ``pgkit.runtime``, ``pgkit.errors`` and ``pgkit.testing``. Everything
else is private and may change.
"""

from importlib.metadata import PackageNotFoundError, version

from pgkit.data.batch import Batch
from pgkit.kinds.capabilities import Capability
from pgkit.kinds.component import Component, Spec
from pgkit.plugins.hookspecs import hookimpl

try:
    __version__ = version("pgkit")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

__all__ = ["Batch", "Capability", "Component", "Spec", "hookimpl", "__version__"]

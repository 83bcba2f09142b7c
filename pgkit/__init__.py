"""pgkit: policy-gradient reinforcement learning as interchangeable, pluggable parts."""

from importlib.metadata import PackageNotFoundError, version

from pgkit.data.batch import Batch
from pgkit.kinds.component import Component, Spec
from pgkit.plugins.hookspecs import hookimpl

try:
    __version__ = version("pgkit")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

__all__ = ["Batch", "Component", "Spec", "hookimpl", "__version__"]

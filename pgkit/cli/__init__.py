"""The ``pgkit`` command line."""

from pgkit.cli.main import main

__all__ = ["main"]

"""Plugin machinery: hook specifications, plugin discovery, the registry of components (which also resolves
the component entries of specs built from Python, ``pgkit.kinds.nested``)."""

from pgkit.plugins import registry  # noqa: F401  (lends pgkit.kinds.nested its resolver of entries)

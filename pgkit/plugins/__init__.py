"""Plugin machinery: hook specifications, plugin discovery, the registry of components."""

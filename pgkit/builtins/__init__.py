"""Built-in components. Each module is an ordinary pgkit plugin ending in its @hookimpl."""

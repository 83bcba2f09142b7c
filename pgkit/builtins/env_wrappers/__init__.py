"""Built-in env wrappers: gymnasium's own wrappers as recipe components (``env.wrappers``)."""

"""pgkit's pytest plugin (entry point ``pytest11``): fixtures for testing components.

- ``pgkit_batch(observation_space=None, action_space=None, num_steps=12, num_envs=3, seed=0)``: a synthetic batch.
- ``pgkit_registry(*plugins)``: the built-ins plus ``plugins`` (modules with ``@hookimpl`` functions),
  installed as pgkit's registry for this one test (recipes, training and the CLI see it), removed after.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Callable, Iterator

import pytest

from pgkit.data.batch import Batch
from pgkit.plugins.registry import Registry, using_registry
from pgkit.testing.batches import synthetic_batch
from pgkit.testing.registry import isolated_registry


@pytest.fixture
def pgkit_batch() -> Callable[..., Batch]:
    return synthetic_batch


@pytest.fixture
def pgkit_registry() -> Iterator[Callable[..., Registry]]:
    with ExitStack() as stack:

        def install(*plugins: object, name: str = "test-plugin", version: str = "0") -> Registry:
            return stack.enter_context(using_registry(isolated_registry(*plugins, name=name, version=version)))

        yield install

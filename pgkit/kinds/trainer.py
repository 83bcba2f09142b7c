"""Kind ``trainer``: the loop that drives the other components."""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, ClassVar

from pgkit.kinds.component import Component

if TYPE_CHECKING:
    from pgkit.kinds.agent import Agent
    from pgkit.runtime.run import Run


class Trainer(Component):
    """Trains an Agent inside a Run. Declares which slots it needs and which it can use."""

    kind = "trainer"
    required_slots: ClassVar[frozenset[str]]
    optional_slots: ClassVar[frozenset[str]] = frozenset()
    off_policy: ClassVar[bool] = False  # trains on replayed transitions rather than fresh batches

    @abstractmethod
    def train(self, agent: Agent, run: Run) -> None:
        """Train until the spec's budget is spent, logging through ``run`` and saving checkpoints."""

"""A sum tree over non-negative priorities: set many leaves at once, draw leaves with probability
proportional to their priority (Schaul et al. 2016, "Prioritized Experience Replay", appendix B.2.1)."""

from __future__ import annotations

import torch
from torch import Tensor


class SumTree:
    """``capacity`` leaves under a complete binary tree whose every node holds the sum of its children
    (float64, recomputed from the children on every update, so sums never drift). Leaf i sits at node
    ``size + i`` of the array, the root at node 1."""

    def __init__(self, capacity: int):
        self.size = 1 << max(0, (capacity - 1).bit_length())  # leaves: the power of two >= capacity
        self.nodes = torch.zeros(2 * self.size, dtype=torch.float64)

    @property
    def total(self) -> float:
        return float(self.nodes[1])

    def priorities(self, index: Tensor) -> Tensor:
        return self.nodes[self.size + index.cpu()]

    def set(self, index: Tensor, priorities: Tensor) -> None:
        """Leaves ``index`` take ``priorities`` (the last one where an index repeats); then their ancestors' sums."""
        index, priorities = index.cpu(), priorities.detach().cpu().to(torch.float64)
        leaves, inverse = torch.unique(index, return_inverse=True)
        last = torch.zeros(len(leaves), dtype=torch.long).scatter_reduce(0, inverse, torch.arange(len(index)), "amax")
        node = self.size + leaves
        self.nodes[node] = priorities[last]
        for _ in range(self.size.bit_length() - 1):  # each level up to the root
            node = torch.unique(node // 2)
            self.nodes[node] = self.nodes[2 * node] + self.nodes[2 * node + 1]

    def find(self, mass: Tensor) -> Tensor:
        """For each value in [0, total), the leaf where the running sum of priorities passes it."""
        node = torch.ones(len(mass), dtype=torch.long)
        mass = mass.to(torch.float64).clone()
        while int(node[0]) < self.size:
            left = 2 * node
            left_sum = self.nodes[left]
            right = mass >= left_sum
            mass = torch.where(right, mass - left_sum, mass)
            node = torch.where(right, left + 1, left)
        return node - self.size

    def sample(self, count: int, limit: int, generator: torch.Generator | None = None) -> Tensor:
        """``count`` leaves, stratified: one drawn in each of ``count`` equal slices of the total mass (lower
        variance than independent draws, as in the paper); only leaves below ``limit`` carry mass."""
        edges = torch.arange(count, dtype=torch.float64) + torch.rand(count, generator=generator, dtype=torch.float64)
        leaves = self.find(edges * (self.total / count))
        return leaves.clamp(max=limit - 1)  # a float rounding at the very top of the last slice

    def state_dict(self) -> dict:
        return {"nodes": self.nodes.clone()}

    def load_state_dict(self, state: dict) -> None:
        if state["nodes"].shape != self.nodes.shape:
            raise ValueError(f"the checkpoint's sum tree has {len(state['nodes']) // 2} leaves, this one {self.size}")
        self.nodes.copy_(state["nodes"])

"""Natural-gradient steps in a KL trust region (Kakade 2002; Schulman et al. 2015, TRPO).

The step direction solves F x = g, with g the surrogate's gradient and F the Fisher information
matrix, which equals the Hessian of KL(pi_old || pi) at pi = pi_old; F is never formed: conjugate
gradient only needs products F v, each one extra backward pass through the KL's gradient.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torch import Tensor


def conjugate_gradient(matvec: Callable[[Tensor], Tensor], b: Tensor, iterations: int = 10, tolerance: float = 1e-10) -> Tensor:
    """x with A x ~= b for a symmetric positive-definite A given only as ``matvec(v) = A v`` (Hestenes &
    Stiefel 1952); stops after ``iterations`` or when the squared residual falls below ``tolerance``."""
    x = torch.zeros_like(b)
    residual = b.clone()
    direction = b.clone()
    squared = residual @ residual
    for _ in range(iterations):
        if squared < tolerance:
            break
        product = matvec(direction)
        step = squared / (direction @ product)
        x = x + step * direction
        residual = residual - step * product
        new_squared = residual @ residual
        direction = residual + (new_squared / squared) * direction
        squared = new_squared
    return x


def flat_gradient(value: Tensor, parameters: Sequence[Tensor], create_graph: bool = False, retain_graph: bool | None = None) -> Tensor:
    """d value / d parameters as one flat vector (zeros for parameters ``value`` does not depend on)."""
    grads = torch.autograd.grad(value, parameters, create_graph=create_graph, retain_graph=retain_graph, allow_unused=True)
    return torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(grads, parameters)])


def hessian_vector_product(gradient: Tensor, parameters: Sequence[Tensor], vector: Tensor, damping: float = 0.0) -> Tensor:
    """(H + damping I) v, where ``gradient`` is a flat gradient built with ``create_graph=True`` and H its
    Jacobian: with the gradient of the mean KL(pi_old || pi) at pi = pi_old, H is the Fisher matrix F."""
    return flat_gradient(gradient @ vector, parameters, retain_graph=True) + damping * vector


def trust_region_step(direction: Tensor, fisher_direction: Tensor, max_kl: float) -> Tensor:
    """The step s * direction with s = sqrt(2 delta / d^T F d): on the quadratic approximation
    KL ~= 1/2 x^T F x it reaches KL = delta exactly."""
    curvature = direction @ fisher_direction
    return direction * math.sqrt(2 * max_kl / max(float(curvature), 1e-12))


def backtracking_line_search(
    evaluate: Callable[[float], tuple[float, float]], max_kl: float, shrink: float = 0.8, iterations: int = 10
) -> tuple[float, int] | None:
    """The first fraction f = shrink^i (i < ``iterations``) of a full step whose ``evaluate(f) ->
    (improvement, kl)`` improves the surrogate while keeping KL <= ``max_kl``, and i; None if none does
    (the caller then keeps the old parameters). No accepted step ever exceeds ``max_kl``."""
    fraction = 1.0
    for tries in range(iterations):
        improvement, kl = evaluate(fraction)
        if kl <= max_kl and improvement > 0:
            return fraction, tries
        fraction *= shrink
    return None

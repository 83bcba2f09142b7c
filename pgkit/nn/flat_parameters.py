"""Parameters packed into one contiguous buffer, so an optimizer step is one kernel, not one per tensor.

Small policy networks have a dozen parameter tensors of a few thousand numbers each; an optimizer
step or a gradient-norm clip then costs a dozen kernel launches and Python bookkeeping per tensor
(about 100 us for RMSprop on CPU against 30 us on one tensor). As in apex's and DeepSpeed's flat
buffers, every parameter becomes a view of one flat tensor and its ``.grad`` a view of the flat
gradient; autograd accumulates into those views in place, and the optimizer steps the single flat
parameter. Valid only for optimizers whose update is elementwise (Adam, RMSprop, SGD), which is why
``Optimizer.elementwise`` gates it.
"""

from __future__ import annotations

import torch
from torch import nn


class FlatParameters:
    """``parameters`` (same dtype and device) re-seated as views of ``self.param`` and their gradients as
    views of ``self.param.grad``. Call ``zero_grad()`` before each backward, never ``p.grad = None``."""

    def __init__(self, parameters: list[nn.Parameter]):
        if not self.can_pack(parameters):
            raise ValueError("flat parameters need one dtype and device for all parameters")
        with torch.no_grad():
            self.param = nn.Parameter(torch.cat([p.reshape(-1) for p in parameters]))
        self.param.grad = torch.zeros_like(self.param)
        self.parameters = parameters
        offset = 0
        for p in parameters:
            size = p.numel()
            p.data = self.param.data[offset : offset + size].view_as(p)
            p.grad = self.param.grad[offset : offset + size].view_as(p)
            offset += size

    @staticmethod
    def can_pack(parameters: list[nn.Parameter]) -> bool:
        """One flat tensor can hold them: at least one, all of one dtype on one device."""
        return len({(p.dtype, p.device) for p in parameters}) == 1

    def zero_grad(self) -> None:
        """Zero every gradient in one op (the views stay in place for autograd to accumulate into)."""
        self.param.grad.zero_()

    def check_views(self) -> None:
        """Raise if something replaced a parameter's gradient or storage (it would then stop training silently)."""
        grad_start, data_start = self.param.grad.data_ptr(), self.param.data_ptr()
        offset = 0
        for p in self.parameters:
            at = offset * p.element_size()
            if p.grad is None or p.grad.data_ptr() != grad_start + at or p.data_ptr() != data_start + at:
                raise RuntimeError(
                    "a parameter's .grad or storage was replaced (e.g. by zero_grad(set_to_none=True)); "
                    "with flat parameters, zero gradients with FlatParameters.zero_grad()"
                )
            offset += p.numel()

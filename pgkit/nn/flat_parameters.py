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
    views of ``self.param.grad``.

    Code that uses torch's usual APIs on the parameters keeps working: a parameter whose storage or
    gradient was replaced (``p.data = ...``, ``vector_to_parameters``, an optimizer's
    ``zero_grad(set_to_none=True)``) has its values and gradient copied back into the flat buffers and
    becomes a view again, at the next ``zero_grad`` or ``reseat``."""

    def __init__(self, parameters: list[nn.Parameter]):
        if not self.can_pack(parameters):
            raise ValueError("flat parameters need one dtype and device for all parameters")
        with torch.no_grad():
            self.param = nn.Parameter(torch.cat([p.reshape(-1) for p in parameters]))
        self.param.grad = torch.zeros_like(self.param)
        self.parameters = parameters
        bounds = torch.tensor([0, *(p.numel() for p in parameters)]).cumsum(0).tolist()
        self._data = [self.param.data[a:b].view_as(p) for a, b, p in zip(bounds, bounds[1:], parameters)]
        self._grad = [self.param.grad[a:b].view_as(p) for a, b, p in zip(bounds, bounds[1:], parameters)]
        self._pointers = [(data.data_ptr(), grad.data_ptr()) for data, grad in zip(self._data, self._grad)]
        self.reseat()

    @staticmethod
    def can_pack(parameters: list[nn.Parameter]) -> bool:
        """One flat tensor can hold them: at least one, all of one dtype on one device."""
        return len({(p.dtype, p.device) for p in parameters}) == 1

    def reseat(self) -> None:
        """Make every parameter and its gradient a view of the flat buffers again, copying in values and
        gradients that were put elsewhere (a missing gradient is zero). Cheap when nothing moved."""
        for p, data, grad, (data_at, grad_at) in zip(self.parameters, self._data, self._grad, self._pointers):
            if p.data_ptr() != data_at:
                data.copy_(p.data)
                p.data = data
            if p.grad is None:
                grad.zero_()
                p.grad = grad
            elif p.grad.data_ptr() != grad_at:
                grad.copy_(p.grad)
                p.grad = grad

    def zero_grad(self) -> None:
        """Zero every gradient in one op (the views stay in place for autograd to accumulate into)."""
        self.reseat()
        self.param.grad.zero_()

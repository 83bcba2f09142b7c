"""One forward pass of a module that several losses call on the same input (a torso two heads share)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import torch
from torch import nn


@contextmanager
def outputs_reused(module: nn.Module) -> Iterator[None]:
    """Within the block, ``module(x)`` called again on the very same tensor ``x`` (unchanged, in the same
    grad and autocast mode) returns the first call's output instead of computing it again. The policy
    loss and the critic loss of a shared torso then run it forward once and, summed, backward once, as
    SB3's ActorCriticPolicy does. Only for a block in which the module's weights do not change."""
    forward = module.forward
    outputs: dict[tuple, tuple[torch.Tensor, Any]] = {}  # key -> (input, kept alive so its id stays unique; output)

    def reusing_forward(x: Any, *args: Any, **kwargs: Any) -> Any:
        if args or kwargs or not isinstance(x, torch.Tensor):
            return forward(x, *args, **kwargs)
        version = None if x.is_inference() else x._version  # inference tensors count no versions
        key = (id(x), version, torch.is_grad_enabled(), torch.is_inference_mode_enabled(), torch.is_autocast_enabled(x.device.type))
        if key not in outputs:
            outputs[key] = (x, forward(x))
        return outputs[key][1]

    module.forward = reusing_forward
    try:
        yield
    finally:
        del module.forward

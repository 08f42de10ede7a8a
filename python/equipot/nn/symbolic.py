"""Models run three ways: eagerly, as TorchScript, and traced with symbolic sizes
(make_fx, for the ahead-of-time compiled format of export.py), where the numbers of
atoms, edges and pairs are symbols rather than numbers. These two helpers let the same
model code serve all three."""

import torch
from torch.fx.experimental.proxy_tensor import get_proxy_mode


def tracing_symbolically() -> bool:
    """Whether the model is being traced with symbolic sizes (never under TorchScript).
    Code that loops over a data-dependent number of pieces does one piece instead."""
    if torch.jit.is_scripting():
        return False
    else:
        return get_proxy_mode() is not None


def data_dependent_size(value: torch.Tensor, minimum: int = 0) -> int:
    """int(value) for a 0-d integer tensor that sizes other tensors (a count, a largest
    degree), known to be at least `minimum`. Traced symbolically it stays a symbol: int()
    would fix it to the value of the example the trace was made with, and a compiled
    model would be wrong for any other structure. The code generator special-cases
    sizes 0 and 1 and must be told when they cannot occur."""
    if torch.jit.is_scripting():
        return int(value)
    else:
        size = value.item()
        if tracing_symbolically():
            torch.sym_constrain_range_for_size(size, min=minimum)  # recorded in the graph
        return size

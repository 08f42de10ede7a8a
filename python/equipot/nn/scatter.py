"""Scatter and segment operations: reduce per-edge rows onto atoms (or any index).
Written with scatter_add_/scatter_reduce so they script and need no torch-scatter."""

import torch


def scatter_add_rows(out: torch.Tensor, index: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """out[index[e]] += values[e] for every row e, in place; returns out. scatter_add_
    with an expanded index rather than index_add_: autograd of index_add_ keeps
    `values` (an edge-sized tensor) alive until the backward pass, scatter_add_'s
    only the index."""
    return out.scatter_add_(0, index.view([-1] + [1] * (values.dim() - 1)).expand_as(values), values)


def scatter_sum(values: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    """Sum rows of `values` into `size` rows by `index` (messages -> atoms)."""
    out = torch.zeros((size,) + values.shape[1:], dtype=values.dtype, device=values.device)
    return scatter_add_rows(out, index, values)


def scatter_mean(values: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    """Mean of the rows of `values` that share an index; 0 for an empty segment."""
    total = scatter_sum(values, index, size)
    ones = torch.ones(index.shape[0], dtype=values.dtype, device=values.device)
    count = scatter_sum(ones, index, size).clamp(min=1.0)
    return total / count.view((-1,) + (1,) * (values.dim() - 1))


def segment_softmax(values: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    """Softmax over the rows of `values` that share an index (attention weights of
    the edges of each atom), per column. The per-segment maximum is subtracted for
    stability; it is detached because softmax does not depend on it."""
    shape = (size,) + values.shape[1:]
    expanded = index.view((-1,) + (1,) * (values.dim() - 1)).expand_as(values)
    maximum = torch.full(shape, float("-inf"), dtype=values.dtype, device=values.device)
    maximum = maximum.scatter_reduce(0, expanded, values.detach(), reduce="amax", include_self=True)
    exponentials = torch.exp(values - maximum[index])
    return exponentials / scatter_sum(exponentials, index, size)[index]

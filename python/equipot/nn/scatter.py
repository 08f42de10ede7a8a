import torch


def scatter_sum(values: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    """Sum rows of `values` into `size` rows by `index` (messages -> atoms)."""
    out = torch.zeros((size,) + values.shape[1:], dtype=values.dtype, device=values.device)
    return out.index_add_(0, index, values)

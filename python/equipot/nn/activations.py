import math

import torch
from torch import nn


def shifted_softplus(x: torch.Tensor) -> torch.Tensor:
    """ln(1 + e^x) - ln 2: smooth, and zero at x = 0 (SchNet)."""
    return nn.functional.softplus(x) - math.log(2.0)


class ShiftedSoftplus(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return shifted_softplus(x)

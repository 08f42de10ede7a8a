"""Cutoff envelopes: smooth functions of distance that reach zero (with zero slope)
at the cutoff, so energies and forces stay continuous as atoms cross it."""

import math

import torch
from torch import nn


class CosineCutoff(nn.Module):
    """0.5 (cos(pi r / rc) + 1) for r < rc, else 0 (Behler; SchNet, PaiNN)."""

    def __init__(self, cutoff: float):
        super().__init__()
        self.cutoff = float(cutoff)

    def forward(self, distances: torch.Tensor) -> torch.Tensor:
        envelope = 0.5 * (torch.cos(distances * (math.pi / self.cutoff)) + 1.0)
        return envelope * (distances < self.cutoff).to(distances.dtype)


class PolynomialCutoff(nn.Module):
    """Polynomial envelope of degree p (DimeNet, NequIP): smooth to order p at rc."""

    def __init__(self, cutoff: float, p: int = 6):
        super().__init__()
        self.cutoff = float(cutoff)
        self.p = float(p)

    def forward(self, distances: torch.Tensor) -> torch.Tensor:
        x = distances / self.cutoff
        p = self.p
        envelope = (
            1.0
            - (p + 1.0) * (p + 2.0) / 2.0 * torch.pow(x, p)
            + p * (p + 2.0) * torch.pow(x, p + 1.0)
            - p * (p + 1.0) / 2.0 * torch.pow(x, p + 2.0)
        )
        return envelope * (x < 1.0).to(distances.dtype)

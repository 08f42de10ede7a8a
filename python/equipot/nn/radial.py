"""Radial bases: expansions of interatomic distances fed to filter networks."""

import math

import torch
from torch import nn


class GaussianBasis(nn.Module):
    """Gaussians exp(-(r - mu_k)^2 / (2 sigma^2)) with centres evenly spaced on
    [start, cutoff] and sigma equal to their spacing (SchNet)."""

    def __init__(self, num_basis: int, cutoff: float, start: float = 0.0):
        super().__init__()
        centers = torch.linspace(start, cutoff, num_basis)
        self.register_buffer("centers", centers)
        self.width = float(centers[1] - centers[0]) if num_basis > 1 else float(cutoff)

    def forward(self, distances: torch.Tensor) -> torch.Tensor:
        diff = distances.unsqueeze(-1) - self.centers
        return torch.exp(-0.5 * (diff / self.width) ** 2)


class BesselBasis(nn.Module):
    """sqrt(2/rc) sin(n pi r / rc) / r, n = 1..N (DimeNet, PaiNN, NequIP)."""

    def __init__(self, num_basis: int, cutoff: float):
        super().__init__()
        self.cutoff = float(cutoff)
        self.register_buffer("frequencies", torch.arange(1, num_basis + 1) * (math.pi / cutoff))

    def forward(self, distances: torch.Tensor) -> torch.Tensor:
        r = distances.unsqueeze(-1)
        return math.sqrt(2.0 / self.cutoff) * torch.sin(self.frequencies * r) / r

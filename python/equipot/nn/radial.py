"""Radial bases: expansions of interatomic distances fed to filter networks."""

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

"""Radial bases: expansions of interatomic distances fed to filter networks. None of
them goes to zero at the cutoff by itself; models multiply by an envelope
(cutoffs.py)."""

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
    """sin(f_n r) / r with f_n = n pi / cutoff, n = 1..num_basis: the zeroth-order
    spherical Bessel functions that vanish at the cutoff (PaiNN, DimeNet, NequIP).

    `normalize` multiplies by sqrt(2 / cutoff), which makes the functions
    orthonormal on [0, cutoff] with weight r^2 (DimeNet, NequIP; schnetpack's PaiNN
    leaves it out). `trainable` makes the frequencies parameters (DimeNet, NequIP).
    At r = 0 the value is taken as 0 rather than the limit f_n: no edge has r = 0."""

    def __init__(self, num_basis: int, cutoff: float, normalize: bool = True, trainable: bool = False):
        super().__init__()
        frequencies = torch.arange(1, num_basis + 1, dtype=torch.get_default_dtype()) * math.pi / cutoff
        if trainable:
            self.frequencies = nn.Parameter(frequencies)
        else:
            self.register_buffer("frequencies", frequencies)
        self.prefactor = math.sqrt(2.0 / cutoff) if normalize else 1.0

    def forward(self, distances: torch.Tensor) -> torch.Tensor:
        safe = torch.where(distances == 0, torch.ones_like(distances), distances)
        return self.prefactor * torch.sin(distances.unsqueeze(-1) * self.frequencies) / safe.unsqueeze(-1)


class ExpNormalBasis(nn.Module):
    """exp(-beta_k (exp(alpha (start - r)) - mu_k)^2) with alpha = 5 / (cutoff - start),
    the mu_k evenly spaced on [exp(start - cutoff), 1] and beta_k = (2 (1 -
    exp(start - cutoff)) / num_basis)^-2 (PhysNet; TensorNet and TorchMD-Net's
    ExpNormalSmearing, which also multiplies by a cosine cutoff: do that with
    CosineCutoff). `trainable` makes mu and beta parameters."""

    def __init__(self, num_basis: int, cutoff: float, start: float = 0.0, trainable: bool = False):
        super().__init__()
        self.start = float(start)
        self.alpha = 5.0 / (cutoff - start)
        lowest = math.exp(start - cutoff)
        means = torch.linspace(lowest, 1.0, num_basis)
        betas = torch.full((num_basis,), (2.0 / num_basis * (1.0 - lowest)) ** -2)
        if trainable:
            self.means, self.betas = nn.Parameter(means), nn.Parameter(betas)
        else:
            self.register_buffer("means", means)
            self.register_buffer("betas", betas)

    def forward(self, distances: torch.Tensor) -> torch.Tensor:
        decay = torch.exp(self.alpha * (self.start - distances)).unsqueeze(-1)
        return torch.exp(-self.betas * (decay - self.means) ** 2)

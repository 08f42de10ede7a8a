"""Cutoff envelopes: smooth functions of distance that reach zero (with zero slope)
at the cutoff, so energies and forces stay continuous as atoms cross it."""

import math

import torch
from torch import nn


class CosineCutoff(nn.Module):
    """0.5 (cos(pi r / rc) + 1) for r < rc, else 0 (Behler; SchNet, PaiNN, TensorNet).
    Continuous with its first derivative at rc."""

    def __init__(self, cutoff: float):
        super().__init__()
        self.cutoff = float(cutoff)

    def forward(self, distances: torch.Tensor) -> torch.Tensor:
        envelope = 0.5 * (torch.cos(distances * (math.pi / self.cutoff)) + 1.0)
        return envelope * (distances < self.cutoff).to(distances.dtype)


class PolynomialEnvelope(nn.Module):
    """1 - (p+1)(p+2)/2 x^p + p(p+2) x^(p+1) - p(p+1)/2 x^(p+2), x = r / rc, for
    r < rc, else 0 (Klicpera et al., DimeNet; NequIP's polynomial cutoff). Equal to
    1 at r = 0; at rc it vanishes with its first and second derivatives. DimeNet's 'envelope exponent' e is p = e + 1 here."""

    def __init__(self, cutoff: float, p: int = 6):
        super().__init__()
        if p < 2:
            raise ValueError(f"polynomial envelope needs p >= 2, got {p}")
        self.cutoff = float(cutoff)
        self.p = int(p)
        self.a = -(p + 1) * (p + 2) / 2.0
        self.b = float(p * (p + 2))
        self.c = -p * (p + 1) / 2.0

    def forward(self, distances: torch.Tensor) -> torch.Tensor:
        x = distances / self.cutoff
        x_p = torch.pow(x, self.p)
        envelope = 1.0 + x_p * (self.a + x * (self.b + self.c * x))
        return envelope * (x < 1.0).to(distances.dtype)

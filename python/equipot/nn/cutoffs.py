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

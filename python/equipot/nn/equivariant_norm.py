"""Equivariant normalisation of spherical-harmonic features x [N, (l_max + 1)^2, C]
(EquiformerV2, Liao et al. 2024): statistics from rotation-invariant quantities only
(the l = 0 channel mean and squared norms over m), so the result rotates with x.

- `EquivariantRMSNorm` (EquiformerV2's "rms_norm_sh"): the l = 0 part is centred over
  channels; one scale per atom, 1 / sqrt(mean_c sum_l mean_m x_lmc^2 / (l_max + 1) +
  eps) (each degree weighted alike, "balanced"), times a learnt weight per (l,
  channel); a learnt bias on l = 0.
- `EquivariantLayerNormSH` (EquiformerV2's "layer_norm_sh"): l = 0 through an ordinary
  LayerNorm over channels; l > 0 scaled by one RMS over all their m and channels
  (degrees balanced likewise), times a learnt weight per (l, channel).
"""

import torch
from torch import nn


def _degree_weights(l_max: int, first: int) -> torch.Tensor:
    """[(l_max + 1)^2 - first^2, 1]: 1 / ((2l + 1) (number of degrees)) per coefficient."""
    weights = []
    for l in range(first, l_max + 1):
        weights += [1.0 / (2 * l + 1) / (l_max + 1 - first)] * (2 * l + 1)
    return torch.tensor(weights, dtype=torch.float64).unsqueeze(1)


def _expand_index(l_max: int) -> torch.Tensor:
    return torch.tensor([l for l in range(l_max + 1) for _ in range(2 * l + 1)], dtype=torch.int64)


class EquivariantRMSNorm(nn.Module):
    def __init__(self, l_max: int, num_channels: int, eps: float = 1e-5):
        super().__init__()
        self.l_max = int(l_max)
        self.eps = float(eps)
        self.affine_weight = nn.Parameter(torch.ones(l_max + 1, num_channels))
        self.affine_bias = nn.Parameter(torch.zeros(num_channels))
        self.register_buffer("balance_degree_weight", _degree_weights(l_max, 0), persistent=False)
        self.register_buffer("expand_index", _expand_index(l_max), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scalar = x.narrow(1, 0, 1)
        scalar = scalar - scalar.mean(dim=2, keepdim=True)
        x = torch.cat([scalar, x.narrow(1, 1, x.shape[1] - 1)], 1)
        weights = self.balance_degree_weight.to(x.dtype)
        norm = (x * x * weights).sum(1, keepdim=True).mean(2, keepdim=True)  # [N, 1, 1]
        scale = (norm + self.eps).pow(-0.5) * self.affine_weight.index_select(0, self.expand_index)
        out = x * scale
        return torch.cat([out.narrow(1, 0, 1) + self.affine_bias, out.narrow(1, 1, out.shape[1] - 1)], 1)


class EquivariantLayerNormSH(nn.Module):
    def __init__(self, l_max: int, num_channels: int, eps: float = 1e-5):
        super().__init__()
        self.l_max = int(l_max)
        self.eps = float(eps)
        self.norm_l0 = nn.LayerNorm(num_channels, eps=eps)
        self.affine_weight = nn.Parameter(torch.ones(max(l_max, 1), num_channels))
        self.register_buffer("balance_degree_weight", _degree_weights(max(l_max, 1), 1), persistent=False)
        self.register_buffer("expand_index", _expand_index(l_max)[1:] - 1, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scalar = self.norm_l0(x.narrow(1, 0, 1))
        if self.l_max == 0:
            return scalar
        rest = x.narrow(1, 1, x.shape[1] - 1)
        weights = self.balance_degree_weight.to(x.dtype)
        norm = (rest * rest * weights).sum(1, keepdim=True).mean(2, keepdim=True)
        scale = (norm + self.eps).pow(-0.5) * self.affine_weight.index_select(0, self.expand_index)
        return torch.cat([scalar, rest * scale], 1)

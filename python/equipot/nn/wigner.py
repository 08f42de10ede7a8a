"""Rotations of real spherical-harmonic coefficients: edge-aligned frames and their
Wigner-D matrices, in the convention of angular.py (real, orthonormal, no
Condon-Shortley phase, z the polar axis, column l^2 + l + m).

- `edge_frames(u)`: a rotation matrix R(u) with R(u) u = z for every unit vector u,
  a deterministic function of u (no random roll, unlike the reference EquiformerV2).
  No frame field on the sphere is smooth everywhere (hairy ball): R(u) is the minimal
  rotation taking u to z on the upper hemisphere (u_z >= 0) and, on the lower one,
  the minimal rotation taking -u to z followed by a half turn about x. Each chart is
  a rational function of u with denominator 1 + |u_z| >= 1, so R and its gradient are
  finite everywhere (the poles and the axes included); the two charts differ by a
  roll about z along the equator u_z = 0, which a model that is exactly invariant
  under rolls of its edge frame (SO(2) convolutions, gate activations) never sees.
- `WignerD(l_max)`: D(R) [.., (l_max+1)^2, (l_max+1)^2], block diagonal in l, with
  Y(R r) = D(R) Y(r), so coefficients c of a function f(r) = c . Y(r) become D(R) c
  for the rotated function f(R^T r). Built without Euler angles: for a fixed set of
  points p_k on the sphere, Y_l(R p_k) = D_l(R) Y_l(p_k), so D_l(R) = Y_l(R P)
  pinv(Y_l(P)), a polynomial in the entries of R. It stays in the autograd graph and
  in the input's dtype (the reference EquiformerV2 detaches its Wigner matrices and
  builds them in float32 from Euler angles, whose gradient is singular at the poles).
  It is exact to round-off for any rotation matrix (the pseudo-inverses are computed
  once in float64 from a Fibonacci point set and kept as buffers).
"""

import math
from typing import List

import torch
from torch import nn

from .angular import real_spherical_harmonics


def edge_frames(unit_vectors: torch.Tensor) -> torch.Tensor:
    """[E, 3] unit vectors -> [E, 3, 3] rotation matrices R with R u = (0, 0, 1)
    (module docstring: two charts, finite gradient everywhere)."""
    lower = unit_vectors[:, 2] < 0
    w = torch.where(lower.unsqueeze(1), -unit_vectors, unit_vectors)  # w_z >= 0
    x, y, z = w[:, 0], w[:, 1], w[:, 2]
    # Rodrigues for the rotation about w x e_z = (y, -x, 0) taking w to e_z:
    # R = I + [v]x + [v]x^2 / (1 + c), c = w . e_z = z.
    k = 1.0 / (1.0 + z)
    one = torch.ones_like(z)
    rows = [
        torch.stack([one - x * x * k, -x * y * k, -x], 1),
        torch.stack([-x * y * k, one - y * y * k, -y], 1),
        torch.stack([x, y, one - (x * x + y * y) * k], 1),
    ]
    rotation = torch.stack(rows, 1)
    # Lower chart: R(-u) maps u to -e_z; a half turn about x, diag(1, -1, -1), to e_z.
    flip = torch.stack([one, -one, -one], 1).unsqueeze(2)
    flip = torch.where(lower.view(-1, 1, 1), flip, torch.ones_like(flip))
    return rotation * flip


def fibonacci_sphere(count: int) -> torch.Tensor:
    """`count` nearly uniform points on the unit sphere (float64 [count, 3])."""
    index = torch.arange(count, dtype=torch.float64) + 0.5
    z = 1.0 - 2.0 * index / count
    phi = index * math.pi * (3.0 - math.sqrt(5.0))
    s = torch.sqrt(1.0 - z * z)
    return torch.stack([s * torch.cos(phi), s * torch.sin(phi), z], 1)


class WignerD(nn.Module):
    """Wigner-D matrices of real spherical harmonics for l = 0..l_max from rotation
    matrices (module docstring). forward(R [E, 3, 3]) -> [E, n, n], n = (l_max + 1)^2,
    block diagonal (exact zeros off the blocks), in R's dtype and differentiable."""

    def __init__(self, l_max: int):
        super().__init__()
        self.l_max = int(l_max)
        count = 4 * self.l_max + 4
        points = fibonacci_sphere(count)
        harmonics = real_spherical_harmonics(points, self.l_max)  # [K, n]
        inverses: List[torch.Tensor] = []
        for l in range(self.l_max + 1):
            block = harmonics[:, l * l:(l + 1) * (l + 1)]  # Y_l(P)^T [K, 2l+1]
            inverses.append(torch.linalg.pinv(block.t()))  # [K, 2l+1]
        self.register_buffer("points", points, persistent=False)
        # All blocks side by side [K, n]: column block l is pinv(Y_l(P)).
        self.register_buffer("inverses", torch.cat(inverses, 1), persistent=False)

    def forward(self, rotations: torch.Tensor) -> torch.Tensor:
        dtype = rotations.dtype
        rotated = torch.einsum("eab,kb->eka", rotations, self.points.to(dtype))
        harmonics = real_spherical_harmonics(rotated, self.l_max)  # [E, K, n]
        inverses = self.inverses.to(dtype)
        size = (self.l_max + 1) * (self.l_max + 1)
        num = rotations.shape[0]
        rows: List[torch.Tensor] = []
        for l in range(self.l_max + 1):
            start, width = l * l, 2 * l + 1
            block = torch.matmul(harmonics[:, :, start:start + width].transpose(1, 2),
                                 inverses[:, start:start + width])  # [E, 2l+1, 2l+1]
            parts: List[torch.Tensor] = []
            if start > 0:
                parts.append(block.new_zeros([num, width, start]))
            parts.append(block)
            if start + width < size:
                parts.append(block.new_zeros([num, width, size - start - width]))
            rows.append(torch.cat(parts, 2))
        return torch.cat(rows, 1)

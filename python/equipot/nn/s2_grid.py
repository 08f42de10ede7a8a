"""Functions on the sphere sampled on a grid: the projection of real spherical-harmonic
coefficients (angular.py's convention) to point values and back, and the pointwise
("S2") activation built from them (Cohen et al.; EquiformerV2's S2 activation).

Two kinds of grid (`kind`), both latitudes times uniformly spaced longitudes:
- "gauss_legendre": Gauss-Legendre nodes in cos(theta) (theta the polar angle from z),
  longitudes phi_k = 2 pi k / num_longitudes. Exact (below) with num_latitudes >=
  l_max + 1.
- "equiangular": the reference EquiformerV2's grid (e3nn's ToS2Grid / FromS2Grid):
  theta_i = (i + 1/2) pi / num_latitudes with the Driscoll-Healy quadrature weights
  of Kostelec & Rockmore (exact for polynomials in cos(theta) of degree <
  num_latitudes), longitudes phi_k = 2 pi k / num_longitudes - pi / 2. This is e3nn's
  grid (polar axis y, longitude alpha measured from z towards x) seen through the
  rotation M0^T, M0 taking z to y (x -> x, y -> -z, z -> y): the reference's edge frame
  puts the edge along y where ours puts it along z, so with these points the edge-frame
  grid is the reference's point for point. With `polar_axis="y"` the points are rotated
  by M0 back to e3nn's own (global-frame) grid, as the reference's feed-forward grids
  use it (all orders, m_max = l_max, only). Exact (below) with an even num_latitudes >= 2 (l_max + 1).
With enough latitudes and num_longitudes > 2 m_max the quadrature integrates the
products of two band-limited functions (degrees <= l_max, orders |m| <= m_max)
exactly, so from_grid(to_grid(c)) = c. A pointwise nonlinearity is not band-limited: what it
puts into degrees above the band aliases back, and how much depends on where the
grid points lie relative to the function, which is the equivariance error of the S2
activation (shrinking as the grid is refined; models/equiformer_v2.py measures it).

Normalisation (e3nn's "component", which EquiformerV2 uses): the grid holds
sum_lm n_l c_lm Y_lm with n_l = sqrt(4 pi / ((2l + 1) (l_max + 1))), so that when every
coefficient has unit variance every degree contributes alike and the point values
have unit variance; from_grid divides n_l out. Coefficients may be restricted to |m| <= m_max (the
edge frames of SO(2) convolutions); then, as in the reference, degrees l > m_max are
multiplied by sqrt((2l + 1) / (2 m_max + 1)) on the way to the grid and again on the
way back.
"""

import math
from typing import List, Optional, Tuple

import torch
from torch import nn

from .angular import real_spherical_harmonics


def coefficient_indices(l_max: int, m_max: int) -> List[int]:
    """Columns l^2 + l + m of the coefficients with |m| <= m_max, l-major, m ascending."""
    return [l * l + l + m for l in range(l_max + 1) for m in range(-min(l, m_max), min(l, m_max) + 1)]


def degree_rescale(l_max: int, m_max: int) -> List[float]:
    """sqrt((2l + 1) / (2 m_max + 1)) for l > m_max, else 1, per kept coefficient."""
    return [math.sqrt((2 * l + 1) / (2 * m_max + 1)) if l > m_max else 1.0
            for l in range(l_max + 1) for _ in range(-min(l, m_max), min(l, m_max) + 1)]


def default_resolution(l_max: int, m_max: int) -> Tuple[int, int]:
    """(latitudes, longitudes) of the reference EquiformerV2's grids."""
    return 2 * (l_max + 1), (2 * (m_max + 1) + 1) if l_max == m_max else 2 * m_max + 1


GRID_KINDS = ("gauss_legendre", "equiangular")
POLAR_AXES = ("z", "y")


def driscoll_healy_weights(num_latitudes: int) -> torch.Tensor:
    """Quadrature weights in cos(theta) of the equiangular nodes theta_i = (i + 1/2) pi /
    n (Kostelec & Rockmore, the weights e3nn's FromS2Grid uses), n even; they sum to 2
    and integrate polynomials in cos(theta) of degree < n exactly (float64 [n])."""
    if num_latitudes < 2 or num_latitudes % 2:
        raise ValueError(f"Driscoll-Healy weights need an even number of latitudes, got {num_latitudes}")
    b = num_latitudes // 2
    j = torch.arange(num_latitudes, dtype=torch.float64).unsqueeze(1)
    odd = 2.0 * torch.arange(b, dtype=torch.float64) + 1.0
    series = (torch.sin((2.0 * j + 1.0) * odd * (math.pi / (4.0 * b))) / odd).sum(1)
    return (2.0 / b) * torch.sin((2.0 * j.squeeze(1) + 1.0) * (math.pi / (4.0 * b))) * series


def s2_grid_points(num_latitudes: int, num_longitudes: int, kind: str = "gauss_legendre",
                   polar_axis: str = "z") -> Tuple[torch.Tensor, torch.Tensor]:
    """(points [G, 3], quadrature weights [G]) float64, G = latitudes x longitudes
    (latitude-major); the weights sum to 4 pi. `kind` and `polar_axis`: module
    docstring."""
    if kind not in GRID_KINDS:
        raise ValueError(f"grid kind must be one of {', '.join(GRID_KINDS)}, got '{kind}'")
    if polar_axis not in POLAR_AXES:
        raise ValueError(f"polar_axis must be one of {', '.join(POLAR_AXES)}, got '{polar_axis}'")
    phi = torch.arange(num_longitudes, dtype=torch.float64) * (2.0 * math.pi / num_longitudes)
    if kind == "gauss_legendre":
        import numpy as np

        nodes, weights = np.polynomial.legendre.leggauss(num_latitudes)
        z = torch.tensor(nodes, dtype=torch.float64)
        w = torch.tensor(weights, dtype=torch.float64)
    else:
        theta = (torch.arange(num_latitudes, dtype=torch.float64) + 0.5) * (math.pi / num_latitudes)
        z = torch.cos(theta)
        w = driscoll_healy_weights(num_latitudes)
        phi = phi - 0.5 * math.pi
    s = torch.sqrt(1.0 - z * z)
    points = torch.stack([(s.unsqueeze(1) * torch.cos(phi)), (s.unsqueeze(1) * torch.sin(phi)),
                          z.unsqueeze(1).expand(-1, num_longitudes)], -1).reshape(-1, 3)
    if polar_axis == "y":  # M0 (x, y, z) = (x, z, -y): z -> y
        points = torch.stack([points[:, 0], points[:, 2], -points[:, 1]], 1)
    quadrature = (w.unsqueeze(1) * (2.0 * math.pi / num_longitudes)).expand(-1, num_longitudes).reshape(-1)
    return points, quadrature


class S2Grid(nn.Module):
    """Projection of coefficients [.., n, C] (n: the |m| <= m_max columns of l <= l_max,
    `coefficient_indices`) to grid values [.., G, C] and back (module docstring).
    `resolution` (latitudes, longitudes) defaults to the reference's; `kind`
    "gauss_legendre" or "equiangular" (the reference's points), `polar_axis` "z" or "y"
    (module docstring)."""

    def __init__(self, l_max: int, m_max: int, resolution: Optional[Tuple[int, int]] = None,
                 kind: str = "gauss_legendre", polar_axis: str = "z"):
        super().__init__()
        if not 0 <= m_max <= l_max:
            raise ValueError(f"need 0 <= m_max <= l_max, got l_max {l_max}, m_max {m_max}")
        latitudes, longitudes = resolution if resolution is not None else default_resolution(l_max, m_max)
        least = l_max + 1 if kind == "gauss_legendre" else 2 * (l_max + 1)
        if latitudes < least or longitudes < 2 * m_max + 1:
            raise ValueError(f"a {kind} S2 grid for l_max {l_max}, m_max {m_max} needs at least {least} latitudes "
                             f"and {2 * m_max + 1} longitudes, got {latitudes} x {longitudes}")
        if polar_axis != "z" and m_max < l_max:
            raise ValueError("orders |m| <= m_max are about z: a grid with m_max < l_max needs polar_axis 'z'")
        if kind == "equiangular" and latitudes % 2:
            raise ValueError(f"an equiangular S2 grid needs an even number of latitudes, got {latitudes}")
        self.resolution = (int(latitudes), int(longitudes))
        self.kind, self.polar_axis = kind, polar_axis
        points, quadrature = s2_grid_points(latitudes, longitudes, kind, polar_axis)
        columns = torch.tensor(coefficient_indices(l_max, m_max))
        harmonics = real_spherical_harmonics(points, l_max)[:, columns]  # [G, n]
        rescale = torch.tensor(degree_rescale(l_max, m_max), dtype=torch.float64)
        degrees = [l for l in range(l_max + 1) for _ in range(-min(l, m_max), min(l, m_max) + 1)]
        norm = torch.tensor([math.sqrt(4.0 * math.pi / ((2 * l + 1) * (l_max + 1))) for l in degrees],
                            dtype=torch.float64)
        # derived from the settings (not saved: a state dict cannot swap a grid)
        self.register_buffer("to_grid_matrix", harmonics * (norm * rescale), persistent=False)  # [G, n]
        self.register_buffer("from_grid_matrix", (harmonics * quadrature.unsqueeze(1) * (rescale / norm)).t(),
                             persistent=False)

    def to_grid(self, coefficients: torch.Tensor) -> torch.Tensor:
        return torch.matmul(self.to_grid_matrix.to(coefficients.dtype), coefficients)

    def from_grid(self, values: torch.Tensor) -> torch.Tensor:
        return torch.matmul(self.from_grid_matrix.to(values.dtype), values)

    def forward(self, coefficients: torch.Tensor) -> torch.Tensor:
        """SiLU applied pointwise on the sphere: from_grid(silu(to_grid(c)))."""
        return self.from_grid(nn.functional.silu(self.to_grid(coefficients)))

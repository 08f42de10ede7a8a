"""Functions on the sphere sampled on a grid: the projection of real spherical-harmonic
coefficients (angular.py's convention) to point values and back, and the pointwise
("S2") activation built from them (Cohen et al.; EquiformerV2's S2 activation).

The grid: Gauss-Legendre nodes in cos(theta) (theta the polar angle from z) times
uniformly spaced longitudes phi_k = 2 pi k / num_longitudes. With num_latitudes >=
l_max + 1 and num_longitudes > 2 m_max the quadrature integrates the products of
two band-limited functions (degrees <= l_max, orders |m| <= m_max) exactly, so
from_grid(to_grid(c)) = c. A pointwise nonlinearity is not band-limited: what it
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


def s2_grid_points(num_latitudes: int, num_longitudes: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """(points [G, 3], quadrature weights [G]) float64, G = latitudes x longitudes;
    the weights sum to 4 pi."""
    import numpy as np

    nodes, weights = np.polynomial.legendre.leggauss(num_latitudes)
    z = torch.tensor(nodes, dtype=torch.float64)
    w = torch.tensor(weights, dtype=torch.float64)
    phi = torch.arange(num_longitudes, dtype=torch.float64) * (2.0 * math.pi / num_longitudes)
    s = torch.sqrt(1.0 - z * z)
    points = torch.stack([(s.unsqueeze(1) * torch.cos(phi)), (s.unsqueeze(1) * torch.sin(phi)),
                          z.unsqueeze(1).expand(-1, num_longitudes)], -1).reshape(-1, 3)
    quadrature = (w.unsqueeze(1) * (2.0 * math.pi / num_longitudes)).expand(-1, num_longitudes).reshape(-1)
    return points, quadrature


class S2Grid(nn.Module):
    """Projection of coefficients [.., n, C] (n: the |m| <= m_max columns of l <= l_max,
    `coefficient_indices`) to grid values [.., G, C] and back (module docstring).
    `resolution` (latitudes, longitudes) defaults to the reference's."""

    def __init__(self, l_max: int, m_max: int, resolution: Optional[Tuple[int, int]] = None):
        super().__init__()
        if not 0 <= m_max <= l_max:
            raise ValueError(f"need 0 <= m_max <= l_max, got l_max {l_max}, m_max {m_max}")
        latitudes, longitudes = resolution if resolution is not None else default_resolution(l_max, m_max)
        if latitudes < l_max + 1 or longitudes < 2 * m_max + 1:
            raise ValueError(f"an S2 grid for l_max {l_max}, m_max {m_max} needs at least {l_max + 1} latitudes "
                             f"and {2 * m_max + 1} longitudes, got {latitudes} x {longitudes}")
        self.resolution = (int(latitudes), int(longitudes))
        points, quadrature = s2_grid_points(latitudes, longitudes)
        columns = torch.tensor(coefficient_indices(l_max, m_max))
        harmonics = real_spherical_harmonics(points, l_max)[:, columns]  # [G, n]
        rescale = torch.tensor(degree_rescale(l_max, m_max), dtype=torch.float64)
        degrees = [l for l in range(l_max + 1) for _ in range(-min(l, m_max), min(l, m_max) + 1)]
        norm = torch.tensor([math.sqrt(4.0 * math.pi / ((2 * l + 1) * (l_max + 1))) for l in degrees],
                            dtype=torch.float64)
        self.register_buffer("to_grid_matrix", harmonics * (norm * rescale))  # [G, n]
        self.register_buffer("from_grid_matrix", (harmonics * quadrature.unsqueeze(1) * (rescale / norm)).t())

    def to_grid(self, coefficients: torch.Tensor) -> torch.Tensor:
        return torch.matmul(self.to_grid_matrix.to(coefficients.dtype), coefficients)

    def from_grid(self, values: torch.Tensor) -> torch.Tensor:
        return torch.matmul(self.from_grid_matrix.to(values.dtype), values)

    def forward(self, coefficients: torch.Tensor) -> torch.Tensor:
        """SiLU applied pointwise on the sphere: from_grid(silu(to_grid(c)))."""
        return self.from_grid(nn.functional.silu(self.to_grid(coefficients)))

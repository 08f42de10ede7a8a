"""python/equipot/nn/s2_grid.py (projection to and from a grid on the sphere, the S2
activation) and nn/equivariant_norm.py (EquiformerV2's equivariant normalisations)."""

import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from equipot.nn.equivariant_norm import EquivariantLayerNormSH, EquivariantRMSNorm
from equipot.nn.s2_grid import S2Grid, coefficient_indices, degree_rescale, driscoll_healy_weights, s2_grid_points
from equipot.nn.wigner import WignerD


def random_coefficients(shape, seed=0):
    return torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("kind, latitudes", [("gauss_legendre", 7), ("equiangular", 8)])
def test_quadrature_weights_sum_to_the_sphere(kind, latitudes):
    points, weights = s2_grid_points(latitudes, 9, kind)
    assert points.shape == (latitudes * 9, 3) and abs(float(weights.sum()) - 4 * math.pi) < 1e-13
    np.testing.assert_allclose(points.norm(dim=1).numpy(), 1.0, atol=1e-15)


@pytest.mark.parametrize("count", [2, 6, 10, 14])
def test_driscoll_healy_weights_integrate_polynomials_below_their_count(count):
    """sum_i w_i cos(theta_i)^d = integral of x^d over [-1, 1] for d < count (not beyond)."""
    weights = driscoll_healy_weights(count)
    x = torch.cos((torch.arange(count, dtype=torch.float64) + 0.5) * math.pi / count)
    for degree in range(count):
        exact = (1 - (-1) ** (degree + 1)) / (degree + 1)
        assert abs(float((weights * x**degree).sum()) - exact) < 1e-13, degree
    assert abs(float((weights * x**count).sum()) - 2 / (count + 1)) > 1e-6
    with pytest.raises(ValueError, match="even"):
        driscoll_healy_weights(count + 1)


def test_equiangular_points_and_polar_axes():
    """Latitudes (i + 1/2) pi / n, longitudes 2 pi k / m - pi / 2 about z; polar axis y:
    the same points rotated by M0 (x -> x, y -> -z, z -> y), e3nn's angles_to_xyz."""
    points, _ = s2_grid_points(4, 5, "equiangular")
    theta = (torch.arange(4, dtype=torch.float64) + 0.5) * math.pi / 4
    alpha = torch.arange(5, dtype=torch.float64) * 2 * math.pi / 5
    beta, alpha = [t.reshape(-1) for t in torch.meshgrid(theta, alpha, indexing="ij")]
    expected = torch.stack([beta.sin() * alpha.sin(), -beta.sin() * alpha.cos(), beta.cos()], 1)
    np.testing.assert_allclose(points.numpy(), expected.numpy(), atol=1e-15)
    rotated, _ = s2_grid_points(4, 5, "equiangular", polar_axis="y")
    e3nn = torch.stack([beta.sin() * alpha.sin(), beta.cos(), beta.sin() * alpha.cos()], 1)
    np.testing.assert_allclose(rotated.numpy(), e3nn.numpy(), atol=1e-15)


def test_grid_options_are_checked():
    with pytest.raises(ValueError, match="even number of latitudes"):
        S2Grid(2, 1, (7, 5), kind="equiangular")
    with pytest.raises(ValueError, match="at least 6 latitudes"):
        S2Grid(2, 1, (4, 5), kind="equiangular")
    assert S2Grid(2, 1, (3, 3)).resolution == (3, 3)  # Gauss-Legendre needs l_max + 1
    with pytest.raises(ValueError, match="grid kind"):
        S2Grid(2, 1, kind="lebedev")
    with pytest.raises(ValueError, match="polar_axis"):
        S2Grid(2, 1, polar_axis="x")


@pytest.mark.parametrize("kind", ["gauss_legendre", "equiangular"])
@pytest.mark.parametrize("polar_axis", ["z", "y"])
@pytest.mark.parametrize("l_max, m_max", [(2, 2), (4, 2), (3, 1), (6, 2)])
def test_grid_round_trip_is_exact_for_band_limited_functions(l_max, m_max, kind, polar_axis):
    """from_grid(to_grid(c)) = c; with m_max < l_max the reference's degree rescale
    (applied both ways) gives s_l^2 c_l."""
    if polar_axis == "y" and m_max < l_max:
        with pytest.raises(ValueError, match="polar_axis 'z'"):  # orders about z
            S2Grid(l_max, m_max, kind=kind, polar_axis=polar_axis)
        return
    grid = S2Grid(l_max, m_max, kind=kind, polar_axis=polar_axis)
    count = len(coefficient_indices(l_max, m_max))
    c = random_coefficients((3, count, 5))
    scale = torch.tensor(degree_rescale(l_max, m_max), dtype=torch.float64).view(1, -1, 1) ** 2
    np.testing.assert_allclose(grid.from_grid(grid.to_grid(c)).numpy(), (scale * c).numpy(), atol=1e-12)


def test_grid_values_have_component_normalisation():
    """e3nn's "component" normalisation: the mean square of the grid values is
    sum_l |c_l|^2 / ((2l + 1) (l_max + 1)), 1 on average for unit-variance coefficients."""
    l_max = 3
    grid = S2Grid(l_max, l_max, (16, 33))
    _, weights = s2_grid_points(16, 33)
    c = random_coefficients((1, 16, 1), seed=2)
    values = grid.to_grid(c)[0, :, 0]
    mean_square = float((weights * values * values).sum() / (4 * math.pi))
    expected = sum(float((c[0, l * l:(l + 1) ** 2] ** 2).sum()) / ((2 * l + 1) * (l_max + 1)) for l in range(l_max + 1))
    assert abs(mean_square - expected) < 1e-12


@pytest.mark.parametrize("kind", ["gauss_legendre", "equiangular"])
@pytest.mark.parametrize("resolution, bound", [(None, 0.1), ((16, 16), 3e-5), ((24, 24), 1e-8), ((32, 32), 5e-12)])
def test_s2_activation_equivariance_error_shrinks_with_resolution(resolution, bound, kind):
    """SiLU on the grid commutes with rotations up to aliasing (module docstring): the
    relative error of act(D c) - D act(c) for l_max 3, coefficients of size 1/4; measured
    0.038 (the reference's 8 x 9 grid), 7.8e-6 (16 x 16), 2.1e-9 (24 x 24), 9.7e-13 (32 x 32)
    with Gauss-Legendre latitudes; 0.031, 7.8e-6, 2.1e-9, 9.7e-13 with equiangular ones."""
    l_max = 3
    grid = S2Grid(l_max, l_max, resolution, kind)
    wigner = WignerD(l_max)(torch.tensor(Rotation.random(4, random_state=0).as_matrix()))
    c = random_coefficients((4, 16, 6), seed=3) / 4.0
    rotated_first = grid(torch.bmm(wigner, c))
    rotated_after = torch.bmm(wigner, grid(c))
    error = float((rotated_first - rotated_after).abs().max() / rotated_after.abs().max())
    assert error < bound, error


@pytest.mark.parametrize("norm_class", [EquivariantRMSNorm, EquivariantLayerNormSH])
def test_equivariant_norms_rotate_with_their_input(norm_class):
    l_max = 4
    norm = norm_class(l_max, 6).double()
    with torch.no_grad():
        for parameter in norm.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    wigner = WignerD(l_max)(torch.tensor(Rotation.random(5, random_state=1).as_matrix()))
    x = random_coefficients((5, 25, 6), seed=4)
    np.testing.assert_allclose(norm(torch.bmm(wigner, x)).detach().numpy(),
                               torch.bmm(wigner, norm(x)).detach().numpy(), atol=1e-12)
    assert norm(x).dtype == torch.float64

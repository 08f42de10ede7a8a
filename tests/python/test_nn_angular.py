"""python/equipot/nn/angular.py against scipy: spherical harmonics (real, all m, and
the zonal m = 0 ones), spherical Bessel functions j_l with their gradients down to
x -> 0, and DimeNet's spherical Bessel basis (roots, normalisation)."""

import numpy as np
import pytest
import torch
from scipy import special

from equipot.nn.angular import (SphericalBesselBasis, real_spherical_harmonics, spherical_bessel_roots, spherical_jn,
                                zonal_spherical_harmonics)

L_MAX = 12


def scipy_complex_harmonic(l, m, theta, phi):
    """Complex Y_l^m with the Condon-Shortley phase (scipy's convention)."""
    if hasattr(special, "sph_harm_y"):
        return special.sph_harm_y(l, m, theta, phi)
    return special.sph_harm(m, l, phi, theta)  # scipy < 1.15: (m, l, azimuth, polar)


def scipy_real_harmonics(vectors, l_max):
    theta = np.arccos(np.clip(vectors[:, 2], -1, 1))
    phi = np.arctan2(vectors[:, 1], vectors[:, 0])
    columns = []
    for l in range(l_max + 1):
        for m in range(-l, l + 1):
            y = scipy_complex_harmonic(l, abs(m), theta, phi)
            # (-1)^m removes the Condon-Shortley phase
            if m > 0:
                columns.append(np.sqrt(2) * (-1) ** m * y.real)
            elif m < 0:
                columns.append(np.sqrt(2) * (-1) ** m * y.imag)
            else:
                columns.append(y.real)
    return np.stack(columns, axis=-1)


def unit_vectors(count=200, seed=0):
    vectors = np.random.default_rng(seed).normal(size=(count, 3))
    vectors = np.concatenate([vectors, [[0, 0, 1], [0, 0, -1], [1, 0, 0], [0, -1, 0], [1, 1, 0]]])
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_real_spherical_harmonics_equal_scipy():
    vectors = unit_vectors()
    ours = real_spherical_harmonics(torch.tensor(vectors), 6).numpy()
    assert ours.shape == (len(vectors), 49)
    np.testing.assert_allclose(ours, scipy_real_harmonics(vectors, 6), rtol=0, atol=1e-12)
    # float32 follows
    ours32 = real_spherical_harmonics(torch.tensor(vectors, dtype=torch.float32), 6)
    assert ours32.dtype == torch.float32
    np.testing.assert_allclose(ours32.double().numpy(), ours, rtol=0, atol=1e-5)


def test_real_spherical_harmonics_are_orthonormal():
    # Gauss-Legendre in cos(theta) x uniform in phi integrates these polynomials exactly
    nodes, weights = np.polynomial.legendre.leggauss(16)
    phi = np.arange(32) * 2 * np.pi / 32
    z, p = np.meshgrid(nodes, phi, indexing="ij")
    s = np.sqrt(1 - z**2)
    vectors = np.stack([s * np.cos(p), s * np.sin(p), z], axis=-1).reshape(-1, 3)
    w = (weights[:, None] * np.full(32, 2 * np.pi / 32)[None, :]).reshape(-1)
    y = real_spherical_harmonics(torch.tensor(vectors), 5).numpy()
    gram = (y * w[:, None]).T @ y
    np.testing.assert_allclose(gram, np.eye(36), atol=1e-12)


def test_zonal_harmonics_equal_legendre_and_the_m0_columns():
    cos_theta = np.concatenate([np.linspace(-1, 1, 101), [1.0, -1.0]])
    ours = zonal_spherical_harmonics(torch.tensor(cos_theta), L_MAX).numpy()
    for l in range(L_MAX + 1):
        expected = np.sqrt((2 * l + 1) / (4 * np.pi)) * special.eval_legendre(l, cos_theta)
        np.testing.assert_allclose(ours[:, l], expected, rtol=0, atol=1e-13)
    vectors = unit_vectors()
    full = real_spherical_harmonics(torch.tensor(vectors), 4).numpy()
    zonal = zonal_spherical_harmonics(torch.tensor(vectors[:, 2]), 4).numpy()
    np.testing.assert_allclose(full[:, [l * l + l for l in range(5)]], zonal, atol=1e-13)


def test_angular_gradients_are_finite_at_the_poles():
    cos_theta = torch.tensor([1.0, -1.0, 0.3], dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(zonal_spherical_harmonics(cos_theta, 6).sum(), cos_theta)
    assert torch.isfinite(grad).all()
    vectors = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]], dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(real_spherical_harmonics(vectors, 6).sum(), vectors)
    assert torch.isfinite(grad).all()


@pytest.mark.parametrize("dtype, atol", [(torch.float64, 5e-15), (torch.float32, 5e-7)])
def test_spherical_jn_equals_scipy_over_the_whole_range(dtype, atol):
    x = np.concatenate([[0.0], np.logspace(-8, 0, 200), np.linspace(0, 45, 4001)])
    for l in range(L_MAX + 1):
        ours = spherical_jn(torch.tensor(x, dtype=dtype), torch.tensor(l), L_MAX).double().numpy()
        expected = special.spherical_jn(l, x)
        np.testing.assert_allclose(ours, expected, rtol=0, atol=atol, err_msg=f"l = {l}")


def test_spherical_jn_keeps_relative_accuracy_near_zero():
    """The closed forms (sin, cos over powers of x) cancel catastrophically for small
    x; short edges must not suffer from that."""
    x = np.logspace(-6, np.log10(0.999), 300)
    for l in range(L_MAX + 1):
        ours = spherical_jn(torch.tensor(x), torch.tensor(l), L_MAX).numpy()
        np.testing.assert_allclose(ours, special.spherical_jn(l, x), rtol=1e-13, atol=0, err_msg=f"l = {l}")
        ours32 = spherical_jn(torch.tensor(x, dtype=torch.float32), torch.tensor(l), L_MAX).double().numpy()
        keep = special.spherical_jn(l, x) > 1e-30  # float32 underflows below
        np.testing.assert_allclose(ours32[keep], special.spherical_jn(l, x)[keep], rtol=2e-6, atol=0)


def test_spherical_jn_gradient_equals_scipy_derivative_across_the_branches():
    # both sides of each branch switch (x = max(l, 1)) and the origin
    points = [0.0, 1e-7, 1e-3, 0.5, 1.0 - 1e-12, 1.0, 1.0 + 1e-12, 7.3, 30.0]
    for l in range(L_MAX + 1):
        x_np = np.array(points + [l - 1e-12, float(l), l + 1e-12, l + 0.5]).clip(min=0.0)
        x = torch.tensor(x_np, requires_grad=True)
        values = spherical_jn(x, torch.tensor(l), L_MAX)
        (grad,) = torch.autograd.grad(values.sum(), x)
        expected = special.spherical_jn(l, x_np, derivative=True)
        np.testing.assert_allclose(grad.numpy(), expected, rtol=1e-11, atol=1e-14, err_msg=f"l = {l}")


def test_spherical_jn_takes_an_order_per_element():
    x = torch.linspace(0.0, 20.0, 50, dtype=torch.float64).unsqueeze(-1).expand(50, 5)
    orders = torch.tensor([0, 3, 1, 4, 2])
    ours = spherical_jn(x, orders, 4).numpy()
    expected = np.stack([special.spherical_jn(int(l), x[:, 0].numpy()) for l in orders], axis=-1)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-15)


def test_roots_are_the_zeros_of_jl_in_order():
    roots = spherical_bessel_roots(8, 7)
    np.testing.assert_allclose(roots[0], np.arange(1, 8) * np.pi, rtol=1e-15)
    for l in range(8):
        assert np.all(np.diff(roots[l]) > 0)
        assert np.all(np.abs(special.spherical_jn(l, roots[l])) < 1e-14)
        # the first root of j_l lies above l and below the first root of j_{l+1}
        assert roots[l, 0] > l
        if l < 7:
            assert np.all(roots[l] < roots[l + 1])
    # tabulated: first zeros of j_1 and j_2 (Abramowitz & Stegun 10.1)
    assert abs(roots[1, 0] - 4.493409457909064) < 1e-12
    assert abs(roots[2, 0] - 5.763459196894550) < 1e-12


def test_spherical_bessel_basis_is_orthonormal_per_order_and_vanishes_at_cutoff():
    cutoff = 5.0
    basis = SphericalBesselBasis(4, 5, cutoff)
    d = torch.linspace(0.0, cutoff, 20001, dtype=torch.float64)
    values = basis(d)  # [D, L, N]
    assert values.shape == (len(d), 4, 5) and values.dtype == torch.float64
    x = d / cutoff
    for l in range(4):
        f = values[:, l, :]
        gram = torch.trapezoid(f.T[:, None, :] * f.T[None, :, :] * x**2, x, dim=-1)
        assert torch.allclose(gram, torch.eye(5, dtype=torch.float64), atol=1e-6), l
    assert values[-1].abs().max() < 1e-13
    expected = (basis.normalizers.numpy()[None] *
                np.stack([special.spherical_jn(l, basis.roots[l].numpy()[None] * x.numpy()[:, None])
                          for l in range(4)], axis=1))
    np.testing.assert_allclose(values.numpy(), expected, rtol=0, atol=1e-13)
    # DimeNet's normalisation 1 / sqrt(0.5 j_{l+1}(z_ln)^2)
    z = basis.roots.numpy()
    np.testing.assert_allclose(basis.normalizers.numpy(),
                               np.sqrt(2) / np.abs(special.spherical_jn(np.arange(1, 5)[:, None], z)), rtol=1e-14)


def test_spherical_bessel_basis_follows_the_input_dtype_and_scripts():
    basis = SphericalBesselBasis(3, 4, 4.0)
    scripted = torch.jit.script(basis)
    d = torch.tensor([1e-4, 0.7, 2.0, 3.9], dtype=torch.float32, requires_grad=True)
    out = scripted(d)
    assert out.dtype == torch.float32
    (grad,) = torch.autograd.grad(out.sum(), d)
    assert torch.isfinite(grad).all()
    reference = basis(d.detach().double())
    assert torch.allclose(out.double(), reference, atol=1e-5)
    # buffers stay float64 (exact roots) until the model is converted
    assert basis.roots.dtype == torch.float64 and "roots" in basis.state_dict()
    assert basis.float().roots.dtype == torch.float32


def test_functions_script():
    for function in (zonal_spherical_harmonics, real_spherical_harmonics, spherical_jn):
        torch.jit.script(function)
    vectors = torch.tensor(unit_vectors(10), dtype=torch.float64)
    scripted = torch.jit.script(real_spherical_harmonics)
    assert torch.equal(scripted(vectors, 3), real_spherical_harmonics(vectors, 3))

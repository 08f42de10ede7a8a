"""python/equipot/nn/wigner.py: edge frames and Wigner-D matrices of real spherical
harmonics. D is a representation (D(R1 R2) = D(R1) D(R2), orthogonal, block
diagonal), rotates harmonics (Y(R r) = D(R) Y(r)), follows the input's dtype, and
its gradient through the edge frames is finite everywhere, edges exactly along the
axes included."""

import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from equipot.nn.angular import real_spherical_harmonics
from equipot.nn.wigner import WignerD, edge_frames

L_MAX = 6
AXES = [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]]


def rotations(count, seed):
    return torch.tensor(Rotation.random(count, random_state=seed).as_matrix())


def unit_vectors(count=50, seed=0):
    vectors = torch.randn(count, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    vectors = torch.cat([vectors, torch.tensor(AXES, dtype=torch.float64),
                         torch.tensor([[1.0, 1.0, 1e-12], [1.0, -2.0, -1e-12], [0.3, 0.1, -5.0]], dtype=torch.float64)])
    return vectors / vectors.norm(dim=1, keepdim=True)


def test_wigner_d_is_a_representation():
    wigner = WignerD(L_MAX)
    r1, r2 = rotations(20, 1), rotations(20, 2)
    d1, d2 = wigner(r1), wigner(r2)
    np.testing.assert_allclose(wigner(r1 @ r2).numpy(), (d1 @ d2).numpy(), atol=1e-13)
    np.testing.assert_allclose((d1 @ d1.transpose(1, 2)).numpy(), np.broadcast_to(np.eye(49), (20, 49, 49)), atol=1e-13)
    np.testing.assert_allclose(wigner(torch.eye(3, dtype=torch.float64).unsqueeze(0))[0].numpy(), np.eye(49), atol=1e-13)
    # block diagonal in l, with exact zeros off the blocks
    mask = np.zeros((49, 49), dtype=bool)
    for l in range(L_MAX + 1):
        mask[l * l:(l + 1) ** 2, l * l:(l + 1) ** 2] = True
    assert np.all(d1.numpy()[:, ~mask] == 0.0)


def test_wigner_d_rotates_spherical_harmonics():
    wigner = WignerD(L_MAX)
    rotation = rotations(10, 3)
    vectors = unit_vectors(10, seed=4)[:10]
    rotated = torch.einsum("eab,eb->ea", rotation, vectors)
    expected = real_spherical_harmonics(rotated, L_MAX)
    ours = torch.einsum("eij,ej->ei", wigner(rotation), real_spherical_harmonics(vectors, L_MAX))
    np.testing.assert_allclose(ours.numpy(), expected.numpy(), atol=1e-13)


def test_wigner_d_follows_the_dtype():
    wigner = WignerD(3)
    rotation = rotations(5, 5)
    d32 = wigner(rotation.float())
    assert d32.dtype == torch.float32
    np.testing.assert_allclose(d32.double().numpy(), wigner(rotation).numpy(), atol=2e-6)


def test_edge_frames_take_each_edge_to_z():
    vectors = unit_vectors()
    frames = edge_frames(vectors)
    np.testing.assert_allclose(torch.einsum("eab,eb->ea", frames, vectors).numpy(),
                               np.tile([0.0, 0.0, 1.0], (len(vectors), 1)), atol=1e-15)
    np.testing.assert_allclose((frames @ frames.transpose(1, 2)).numpy(), np.broadcast_to(np.eye(3), frames.shape),
                               atol=1e-15)
    np.testing.assert_allclose(torch.linalg.det(frames).numpy(), 1.0, atol=1e-14)
    assert torch.equal(edge_frames(vectors), frames)  # deterministic


def test_zonal_rows_are_the_edge_harmonics():
    """Row (l, m = 0) of D(R(u)) is sqrt(4 pi / (2l + 1)) Y_l(u) (addition theorem): the
    part of the frame that the roll about the edge does not touch."""
    vectors = unit_vectors()
    wigner = WignerD(L_MAX)(edge_frames(vectors))
    harmonics = real_spherical_harmonics(vectors, L_MAX)
    for l in range(L_MAX + 1):
        expected = math.sqrt(4 * math.pi / (2 * l + 1)) * harmonics[:, l * l:(l + 1) ** 2]
        np.testing.assert_allclose(wigner[:, l * l + l, l * l:(l + 1) ** 2].numpy(), expected.numpy(), atol=1e-13)


@pytest.mark.parametrize("axis", AXES)
def test_gradients_are_finite_along_the_axes(axis):
    wigner = WignerD(4)
    vector = torch.tensor([axis], dtype=torch.float64, requires_grad=True)
    d = wigner(edge_frames(vector / vector.norm(dim=1, keepdim=True)))
    weights = torch.randn(d.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    (gradient,) = torch.autograd.grad((d * weights).sum(), vector)
    assert torch.all(torch.isfinite(gradient))


@pytest.mark.parametrize("vector", [[0.0, 0.0, 1.0], [0.0, 0.0, -1.0], [0.2, -0.3, 0.9], [0.5, 0.4, -0.6],
                                    [0.0, 1e-9, -1.0]])
def test_frames_are_smooth_within_a_chart(vector):
    """Finite differences equal the gradient (float64 gradcheck) at the poles and
    within each hemisphere."""
    wigner = WignerD(3)
    start = torch.tensor([vector], dtype=torch.float64, requires_grad=True)
    torch.autograd.gradcheck(lambda v: wigner(edge_frames(v / v.norm(dim=1, keepdim=True))), (start,),
                             eps=1e-7, atol=1e-6)

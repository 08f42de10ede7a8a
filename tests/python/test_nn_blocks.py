"""The shared building blocks of python/equipot/nn, each on its own."""

import math

import numpy as np
import pytest
import torch
from ase.build import bulk
from ase.neighborlist import primitive_neighbor_list

from equipot.nn import (MLP, BesselBasis, CosineCutoff, ExpNormalBasis, GaussianBasis, PolynomialEnvelope, activation,
                        edge_slots,
                        scatter_mean, scatter_sum, segment_softmax, triplet_blocks, triplets)

R = torch.linspace(0.05, 5.0, 200, dtype=torch.float64)


def test_gaussian_basis_centres_and_width():
    basis = GaussianBasis(5, 4.0).double()
    values = basis(torch.tensor([0.0, 1.0, 4.0], dtype=torch.float64))
    assert torch.allclose(values[1], torch.exp(-0.5 * (torch.tensor([1.0, 0.0, -1.0, -2.0, -3.0]).double()) ** 2))
    assert values[0, 0] == 1.0 and values[2, 4] == 1.0


def test_bessel_basis_is_orthonormal_and_vanishes_at_cutoff():
    cutoff = 5.0
    basis = BesselBasis(6, cutoff).double()
    r = torch.linspace(1e-6, cutoff, 200001, dtype=torch.float64)
    values = basis(r)
    gram = torch.trapezoid(values.T[:, None, :] * values.T[None, :, :] * r**2, r, dim=-1)
    assert torch.allclose(gram, torch.eye(6, dtype=torch.float64), atol=1e-6)
    # zero at the cutoff up to the float32 rounding of the frequencies (buffers are
    # built in the default dtype, as the reference implementations do)
    assert basis(torch.tensor([cutoff], dtype=torch.float64)).abs().max() < 1e-6
    plain = BesselBasis(3, cutoff, normalize=False).double()
    expected = torch.sin(R[:, None] * (torch.arange(1, 4) * math.pi / cutoff)) / R[:, None]
    assert torch.allclose(plain(R), expected, rtol=1e-6, atol=1e-7)
    assert torch.equal(plain(torch.zeros(1, dtype=torch.float64)), torch.zeros(1, 3, dtype=torch.float64))
    assert isinstance(BesselBasis(3, cutoff, trainable=True).frequencies, torch.nn.Parameter)


def test_exp_normal_basis_peaks_at_its_means():
    basis = ExpNormalBasis(8, 4.5, start=0.5).double()
    # exp(alpha (start - r)) equals mean_k at r_k = start - ln(mean_k) / alpha: the peak
    r_peak = basis.start - torch.log(basis.means) / basis.alpha
    values = basis(r_peak)
    assert torch.allclose(values.diagonal(), torch.ones(8, dtype=torch.float64))
    assert values.max() <= 1.0


@pytest.mark.parametrize("envelope", [CosineCutoff(4.0), PolynomialEnvelope(4.0, p=6), PolynomialEnvelope(4.0, p=3)])
def test_envelopes_are_one_at_zero_and_vanish_smoothly_at_cutoff(envelope):
    assert envelope(torch.zeros(1, dtype=torch.float64)).item() == 1.0
    r = torch.tensor([4.0 - 1e-7, 4.0, 4.5], dtype=torch.float64, requires_grad=True)
    values = envelope(r)
    slope = torch.autograd.grad(values.sum(), r, create_graph=True)[0]
    assert values.abs().max() < 1e-12 and slope.abs().max() < 1e-6
    if isinstance(envelope, PolynomialEnvelope):  # also the second derivative
        curvature = torch.autograd.grad(slope[0], r)[0][0]
        assert abs(curvature) < 1e-4
    assert torch.all(envelope(R[R < 4.0]) > 0) and torch.all(envelope(R[R >= 4.0]) == 0)


def test_polynomial_envelope_needs_p_at_least_2():
    with pytest.raises(ValueError, match="p >= 2"):
        PolynomialEnvelope(4.0, p=1)


def test_mlp_layout_and_activation_registry():
    mlp = MLP([4, 8, 8, 1], "ssp")
    assert [type(m).__name__ for m in mlp] == ["Linear", "ShiftedSoftplus", "Linear", "ShiftedSoftplus", "Linear"]
    assert len(MLP([4, 2], activate_last=True)) == 2
    with pytest.raises(ValueError, match="unknown activation 'relu'"):
        activation("relu")
    with pytest.raises(ValueError):
        MLP([4])


def test_scatter_sum_and_mean():
    values = torch.arange(10, dtype=torch.float64).view(5, 2)
    index = torch.tensor([0, 2, 0, 2, 2])
    assert torch.equal(scatter_sum(values, index, 4), torch.tensor([[4.0, 6], [0, 0], [16, 19], [0, 0]]).double())
    mean = scatter_mean(values, index, 4)
    assert torch.allclose(mean[2], values[[1, 3, 4]].mean(0)) and torch.equal(mean[1], torch.zeros(2).double())


def test_segment_softmax_is_a_softmax_per_segment():
    torch.manual_seed(0)
    values = (torch.randn(9, 3, dtype=torch.float64) * 30).requires_grad_()
    index = torch.tensor([1, 0, 1, 1, 3, 0, 3, 3, 3])
    weights = segment_softmax(values, index, 4)
    for segment in (0, 1, 3):
        rows = index == segment
        assert torch.allclose(weights[rows], torch.softmax(values[rows], dim=0))
    weights[:, 0].pow(2).sum().backward()
    assert torch.isfinite(values.grad).all()


def brute_force_triplets(i, j, vectors):
    """(k -> j, j -> i) pairs by looking at every pair of edges."""
    found = set()
    for ji in range(len(i)):
        for kj in range(len(i)):
            if i[kj] == j[ji] and not (j[kj] == i[ji] and np.allclose(vectors[kj], -vectors[ji])):
                found.add((kj, ji))
    return found


@pytest.mark.parametrize("cell_size", [2.2, 3.6])
def test_triplets_equal_brute_force_including_other_images(cell_size):
    """A 2-atom cell smaller than the cutoff: atom j meets several images of atom i;
    only the exact reverse edge is excluded."""
    atoms = bulk("Cu", "bcc", a=cell_size) * (1, 1, 2)
    atoms.rattle(0.05, seed=1)
    i, j, d = primitive_neighbor_list("ijD", atoms.pbc, atoms.cell[:], atoms.positions, 3.5)
    edge_index = torch.as_tensor(np.stack([i, j]))
    vectors = torch.as_tensor(d)
    kj, ji = triplets(edge_index, vectors, len(atoms))
    got = set(zip(kj.tolist(), ji.tolist()))
    assert len(got) == len(kj)  # no duplicates
    expected = brute_force_triplets(i, j, d)
    assert got == expected
    # images of i other than the reverse edge are kept (k == i, a different image)
    assert any(j[a] == i[b] for a, b in expected)
    # the same set whatever the edge order
    order = torch.randperm(len(i), generator=torch.Generator().manual_seed(0))
    kj2, ji2 = triplets(edge_index[:, order], vectors[order], len(atoms))
    assert set(zip(order[kj2].tolist(), order[ji2].tolist())) == expected


def test_edge_slots_hold_each_edge_once_in_its_atoms_row():
    owner = torch.tensor([2, 0, 2, 2, 0, 3])
    slots, slot_of_edge = edge_slots(owner, 5)
    assert slots.shape == (5, 3)
    assert slots.tolist() == [[1, 4, 6], [6, 6, 6], [0, 2, 3], [5, 6, 6], [6, 6, 6]]  # 6 = no edge
    assert torch.equal(slots.flatten()[slot_of_edge], torch.arange(6))
    empty, where = edge_slots(torch.zeros(0, dtype=torch.long), 2)  # width 2 at least: all "no edge"
    assert empty.tolist() == [[0, 0], [0, 0]] and where.shape == (0,)


def test_triplet_blocks_mark_exactly_the_triplets():
    """incoming/outgoing rows of atom j hold the edges ending and starting at j; the
    valid mask, read through them, is the flat triplet list."""
    atoms = bulk("Cu", "fcc", a=3.6) * (2, 1, 1)
    atoms.rattle(0.05, seed=2)
    i, j, d = primitive_neighbor_list("ijD", atoms.pbc, atoms.cell[:], atoms.positions, 3.0)
    edge_index, vectors = torch.as_tensor(np.stack([i, j])), torch.as_tensor(d)
    incoming, outgoing, valid, slot_of_incoming = triplet_blocks(edge_index, vectors, len(atoms))
    for atom in range(len(atoms)):
        assert sorted(e for e in incoming[atom].tolist() if e < len(i)) == np.flatnonzero(j == atom).tolist()
        assert sorted(e for e in outgoing[atom].tolist() if e < len(i)) == np.flatnonzero(i == atom).tolist()
    assert torch.equal(incoming.flatten()[slot_of_incoming], torch.arange(len(i)))
    found = {(outgoing[n, b].item(), incoming[n, a].item()) for n, a, b in valid.nonzero().tolist()}
    assert found == brute_force_triplets(i, j, d)


def test_triplets_script():
    scripted = torch.jit.script(triplets)
    edge_index = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    vectors = torch.tensor([[1.0, 0, 0], [-1.0, 0, 0], [0, 1.0, 0], [0, -1.0, 0]])
    kj, ji = scripted(edge_index, vectors, 3)
    assert sorted(zip(kj.tolist(), ji.tolist())) == [(1, 3), (2, 0)]


def test_two_way_messages_over_undirected_edges_equal_directed_messages():
    """SchNet-style messages: filter(distance) x feature of the neighbour, summed per
    atom, once over every directed edge and once over undirected edges both ways."""
    from equipot.nn import scatter_two_way, undirected_edges

    atoms = bulk("Cu", "fcc", a=3.6) * (2, 1, 1)  # small cell: self-image edges (i == j) too
    atoms.rattle(0.05, seed=2)
    i, j, d = primitive_neighbor_list("ijD", atoms.pbc, atoms.cell[:], atoms.positions, 4.0)
    assert np.any(i == j)
    edge_index = torch.as_tensor(np.stack([i, j]))
    distances = torch.as_tensor(np.linalg.norm(d, axis=1))
    features = torch.randn(len(atoms), 4, dtype=torch.float64)
    weights = torch.randn(4, dtype=torch.float64)
    directed = scatter_sum(torch.cos(distances)[:, None] * weights * features[edge_index[1]], edge_index[0], len(atoms))
    edges, num_pairs = undirected_edges(edge_index)
    assert num_pairs == int((i < j).sum()) and len(edges) == num_pairs + int((i == j).sum())
    first, second = edge_index[0][edges], edge_index[1][edges]
    filters = torch.cos(distances[edges])[:, None] * weights
    two_way = scatter_two_way(features[second] * filters, features[first[:num_pairs]] * filters[:num_pairs],
                              first, second, num_pairs, len(atoms))
    assert torch.allclose(two_way, directed, rtol=1e-13, atol=1e-13)

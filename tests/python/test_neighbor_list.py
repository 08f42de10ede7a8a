"""The C++ cell list equals a brute-force O(N^2) search over periodic images."""

import itertools

import numpy as np
import pytest

from equipot import EquipotError, _core


def brute_force(positions, cell, pbc, cutoff):
    """Every (i, j, shift) with |r_j + shift.cell - r_i| < cutoff, by trying all images."""
    ranges = []
    for k in range(3):
        if pbc[k]:
            spacing = 1.0 / np.linalg.norm(np.linalg.inv(cell)[:, k])
            span = np.abs(positions @ np.linalg.inv(cell)[:, k]).max() + 1
            ranges.append(range(-int(np.ceil(cutoff / spacing + span)) - 1, int(np.ceil(cutoff / spacing + span)) + 2))
        else:
            ranges.append(range(0, 1))
    found = set()
    for shift in itertools.product(*ranges):
        offset = np.asarray(shift) @ cell
        d = positions[None, :, :] + offset - positions[:, None, :]
        close = np.argwhere((d**2).sum(-1) < cutoff**2)
        for i, j in close:
            if i != j or any(shift):
                found.add((int(i), int(j)) + tuple(shift))
    return found


def random_cell(rng, kind):
    if kind == "orthogonal":
        return np.diag(rng.uniform(6, 11, 3))
    if kind == "small":  # narrower than the cutoff: several images of one neighbour
        return np.diag(rng.uniform(1.5, 3.5, 3)) + np.triu(rng.uniform(-0.5, 0.5, (3, 3)), 1)
    cell = np.diag(rng.uniform(6, 10, 3))
    cell[1, 0], cell[2, 0], cell[2, 1] = rng.uniform(-3, 3, 3)
    return cell


@pytest.mark.parametrize("kind", ["orthogonal", "triclinic", "small"])
@pytest.mark.parametrize("pbc", [(True, True, True), (True, False, True), (False, False, False), (True, False, False)])
@pytest.mark.parametrize("seed", [0, 1])
def test_cell_list_equals_brute_force(kind, pbc, seed):
    rng = np.random.default_rng(seed)
    cell = random_cell(rng, kind)
    n = 5 if kind == "small" else 40
    fractional = rng.uniform(-0.3, 1.3, (n, 3))  # atoms outside the cell are allowed
    positions = fractional @ cell
    cutoff = 4.0
    edge_index, shifts = _core.neighbor_list(positions, cell, pbc, cutoff)
    listed = [(i, j) + tuple(s) for i, j, s in zip(edge_index[0], edge_index[1], shifts)]
    assert len(listed) == len(set(listed)), "duplicate edges"
    assert set(listed) == brute_force(positions, cell, pbc, cutoff)
    vectors = positions[edge_index[1]] - positions[edge_index[0]] + shifts @ cell
    assert np.all(np.linalg.norm(vectors, axis=1) < cutoff)


def test_sparse_structure_does_not_blow_up_memory():
    positions = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1e5, 1e5, 1e5], [1e5 + 1, 1e5, 1e5]])
    edge_index, _ = _core.neighbor_list(positions, np.zeros((3, 3)), [False] * 3, 5.0)
    assert edge_index.shape == (2, 4)


@pytest.mark.parametrize(
    "positions, cell, pbc, message",
    [
        (np.array([[0.0, 0, 0], [np.nan, 0, 0]]), np.eye(3) * 5, [True] * 3, "not finite"),
        (np.zeros((2, 3)), np.zeros((3, 3)), [True, False, False], "zero in a periodic direction"),
        (np.zeros((2, 3)), np.array([[1.0, 0, 0], [2.0, 0, 0], [0, 0, 1]]), [True] * 3, "degenerate"),
    ],
)
def test_bad_neighbor_list_input(positions, cell, pbc, message):
    with pytest.raises(EquipotError, match=message):
        _core.neighbor_list(positions, cell, pbc, 4.0)


def test_non_positive_cutoff_is_an_error():
    with pytest.raises(EquipotError, match="cutoff"):
        _core.neighbor_list(np.zeros((2, 3)), np.eye(3), [True] * 3, 0.0)


def test_atoms_extremely_far_apart_do_not_overflow_the_bins():
    positions = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1e8, -1e8, 1e8], [1e8 + 1.5, -1e8, 1e8]])
    edge_index, _ = _core.neighbor_list(positions, np.zeros((3, 3)), [False] * 3, 5.0)
    assert edge_index.shape == (2, 4)


def test_cell_far_thinner_than_the_cutoff_is_refused_not_hung():
    cell = np.diag([0.01, 0.01, 5.0])  # 1001 x 1001 x 3 images per atom
    with pytest.raises(EquipotError, match="too thin for the cutoff"):
        _core.neighbor_list(np.zeros((1, 3)), cell, [True] * 3, 5.0)

"""The physics every architecture obeys, checked for each entry of ARCHITECTURES
(a new architecture is picked up automatically) on tiny float64 models with random
weights, through the Python reference path (ASE neighbour list + autograd).

Export parity through the C++ core is in test_export_parity.py, LAMMPS ranks in
tests/lammps_pair/test_lammps_architectures.py and OpenMM in
tests/openmm/test_openmm_architectures.py; all are parametrised the same way."""

import numpy as np
import pytest
import torch
from ase import Atoms
from scipy.spatial.transform import Rotation

from tests.conftest import TINY_HYPERPARAMETERS, TRICLINIC_STRAIN, architectures, cuni_alloy, make_model, water_dimer
from tests.python.reference import energy, evaluate

ARCHS = architectures()


@pytest.fixture(scope="module", params=ARCHS)
def model(request):
    return make_model(request.param)


@pytest.fixture(scope="module", params=ARCHS)
def water_model(request):
    return make_model(request.param, elements=("H", "O"), cutoff=3.5, seed=1)


def test_every_architecture_has_tiny_hyperparameters():
    missing = set(ARCHS) - set(TINY_HYPERPARAMETERS)
    assert not missing, f"add tiny hyperparameters for {missing} to tests/conftest.py"


def test_hyperparameters_rebuild_the_model(model):
    from equipot.models import build_model

    rebuilt = build_model(model.architecture, model.elements, **model.hyperparameters())
    rebuilt.load_state_dict(model.state_dict())  # same parameter names and shapes
    assert rebuilt.num_layers == model.num_layers and rebuilt.cutoff == model.cutoff
    assert "elements" not in model.hyperparameters()


def orthogonal_transforms():
    """Three rotations and, for O(3), three improper rotations (rotation x inversion)."""
    for seed in range(3):
        rotation = Rotation.random(random_state=seed).as_matrix()
        yield f"rotation{seed}", rotation
        yield f"reflection{seed}", -rotation @ np.diag([1.0, 1.0, -1.0])


@pytest.mark.parametrize("periodic", [False, True])
def test_invariance_and_equivariance(model, periodic):
    """Energy invariant, forces equivariant under rotations, reflections, translations
    and permutations of the atoms (all in one transform), to 1e-12 relative."""
    atoms = cuni_alloy(seed=11)
    atoms.pbc = periodic
    e0, f0, _, ae0 = evaluate(model, atoms)
    scale = np.abs(f0).max()
    for k, (name, transform) in enumerate(orthogonal_transforms()):
        rng = np.random.default_rng(k)
        moved = atoms.copy()
        moved.positions = atoms.positions @ transform.T + rng.normal(size=3) * 3.0
        moved.cell = atoms.cell[:] @ transform.T
        order = rng.permutation(len(atoms))
        moved = moved[order]
        e1, f1, _, ae1 = evaluate(model, moved)
        assert abs(e1 - e0) <= 1e-12 * abs(e0), name
        np.testing.assert_allclose(ae1, ae0[order], rtol=0, atol=1e-11 * np.abs(ae0).max(), err_msg=name)
        np.testing.assert_allclose(f1, (f0 @ transform.T)[order], rtol=0, atol=1e-11 * scale, err_msg=name)


def test_edge_order_does_not_matter(model):
    """SPEC.md promises no edge order: a shuffled edge list gives the same result."""
    atoms = cuni_alloy(seed=15)
    e0, f0, _, ae0 = evaluate(model, atoms)
    for seed in range(3):
        e1, f1, _, ae1 = evaluate(model, atoms, edge_order_seed=seed)
        assert abs(e1 - e0) <= 1e-12 * abs(e0)
        np.testing.assert_allclose(ae1, ae0, rtol=0, atol=1e-11 * np.abs(ae0).max())
        np.testing.assert_allclose(f1, f0, rtol=0, atol=1e-11 * np.abs(f0).max())


def test_repeated_calls_are_bitwise_identical(model):
    atoms = cuni_alloy(seed=16)
    first = evaluate(model, atoms)
    for _ in range(2):
        again = evaluate(model, atoms)
        assert again[0] == first[0]
        assert np.array_equal(again[1], first[1]) and np.array_equal(again[3], first[3])


def test_forces_equal_central_finite_differences(model):
    atoms = cuni_alloy(repeat=(1, 1, 2), seed=12)
    _, forces, _, _ = evaluate(model, atoms)
    h = 1e-5
    rng = np.random.default_rng(0)
    scale = np.abs(forces).max()
    for atom in rng.choice(len(atoms), 3, replace=False):
        for axis in range(3):
            plus, minus = atoms.copy(), atoms.copy()
            plus.positions[atom, axis] += h
            minus.positions[atom, axis] -= h
            numeric = -(energy(model, plus) - energy(model, minus)) / (2 * h)
            assert abs(numeric - forces[atom, axis]) < 1e-7 * max(scale, 1.0)


def test_stress_equals_strain_derivative(model):
    atoms = cuni_alloy(repeat=(1, 1, 2), seed=14, strain=TRICLINIC_STRAIN)
    _, _, stress, _ = evaluate(model, atoms, stress=True)
    volume = atoms.get_volume()
    h = 1e-6
    for a in range(3):
        for b in range(3):
            numeric = []
            for sign in (1, -1):
                strain = np.eye(3)
                strain[a, b] += sign * h
                deformed = atoms.copy()
                deformed.set_cell(atoms.cell[:] @ strain, scale_atoms=True)
                numeric.append(energy(model, deformed))
            derivative = (numeric[0] - numeric[1]) / (2 * h) / volume
            assert abs(derivative - stress[a, b]) < 1e-8 * max(np.abs(stress).max(), 1.0)


def three_atoms(distance):
    """Atom 2 at `distance` from atom 1, at an angle (so angular models see a real
    angle); atom 0 stays far beyond the cutoff from atom 2."""
    direction = np.array([np.cos(0.35), np.sin(0.35), 0.0])
    return Atoms("CuNiCu", positions=[[0, 0, 0], [2.3, 0, 0], [2.3, 0, 0] + distance * direction])


def test_energy_and_forces_continuous_through_the_cutoff(model):
    """Just inside and just outside the cutoff give the same energy and forces (a jump
    would show at once), and the force on the atom crossing it fades to zero."""
    cutoff = model.cutoff
    delta = 1e-9
    inside, outside = evaluate(model, three_atoms(cutoff - delta)), evaluate(model, three_atoms(cutoff + delta))
    e_in, f_in, _, _ = inside
    e_out, f_out, _, _ = outside
    before, near = evaluate(model, three_atoms(cutoff - 0.1)), evaluate(model, three_atoms(cutoff - 1e-3))
    force_scale = np.abs(before[1]).max()
    assert force_scale > 1e-3, "the test structure must have real forces"
    assert abs(e_in - e_out) <= 1e-12 * abs(e_out)
    assert np.abs(f_in - f_out).max() <= 1e-7 * force_scale
    # 1e-3 A before the cutoff the force on the crossing atom along the bond is a small
    # fraction of its value 0.1 A before (an envelope reaching zero 1% beyond the
    # cutoff leaves about 30%).
    bond = three_atoms(1.0).positions[2] - three_atoms(0.0).positions[2]
    assert abs(near[1][2] @ bond) < 5e-2 * abs(before[1][2] @ bond)


def test_supercell_energy_is_extensive(model):
    atoms = cuni_alloy(repeat=(1, 1, 1), seed=13)  # 4-atom cell, smaller than 2 cutoffs
    e1 = energy(model, atoms)
    for repeat in [(2, 1, 1), (1, 2, 2)]:
        n = np.prod(repeat)
        assert abs(energy(model, atoms.repeat(repeat)) - n * e1) <= 1e-11 * abs(n * e1)


def test_distant_fragments_are_independent(water_model):
    a = water_dimer()
    b = water_dimer()
    b.rotate(40, "x")
    combined = a.copy() + b.copy()
    combined.positions[len(a):] += [50.0, 0.0, 0.0]
    e_sum = energy(water_model, a) + energy(water_model, b)
    assert abs(energy(water_model, combined) - e_sum) <= 1e-12 * abs(e_sum)


def zigzag_chain(num_atoms, moved=None, shift=0.0):
    """Atoms 2.4 A apart along x, alternately 0.3 A up and down: each atom's
    neighbours within 4 A are only the next and previous ones (the second neighbour
    is 4.8 A away), so atom k is exactly k graph hops from atom 0."""
    positions = np.array([[2.4 * k, 0.3 * (-1) ** k, 0.0] for k in range(num_atoms)])
    if moved is not None:
        positions[moved] += [0.0, shift, 0.5 * shift]
    return Atoms(["Cu", "Ni"] * (num_atoms // 2) + ["Cu"] * (num_atoms % 2), positions=positions)


def test_declared_receptive_field_is_exact(model):
    """LAMMPS builds its ghost shell as num_layers x cutoff: the energy of atom 0 must
    depend on the atom num_layers hops away and on none further. Dependence is read
    from autograd (a gradient is exactly zero where there is no path in the graph,
    and non-zero however weak the path: in tiny TensorNets the last hop weighs 1e-10),
    and confirmed by moving the atom one hop beyond."""
    import torch

    from tests.python.reference import ase_structure

    assert model.cutoff == 4.0
    hops = model.num_layers
    chain = zigzag_chain(hops + 3)
    graph = ase_structure(chain, model.elements, model.cutoff)  # non-periodic: no shifts
    positions = torch.tensor(graph.positions, requires_grad=True)
    edge_index = torch.as_tensor(graph.edge_index)
    atom_energies = model(torch.as_tensor(graph.species), edge_index, positions[edge_index[1]] - positions[edge_index[0]])
    (gradient,) = torch.autograd.grad(atom_energies[0], positions)
    reach = gradient.abs().sum(dim=1)
    assert torch.all(reach[: hops + 1] != 0), (
        f"num_layers = {hops} but atom 0 does not see every atom up to {hops} hops: {reach.tolist()}")
    assert torch.all(reach[hops + 1:] == 0), f"atom 0 sees atoms beyond {hops} hops: {reach.tolist()}"
    base = evaluate(model, chain)[3][0]
    beyond = evaluate(model, zigzag_chain(hops + 3, moved=hops + 1, shift=0.2))[3][0]
    assert abs(beyond - base) <= 1e-13 * abs(base), f"atom {hops + 1} hops away changes atom 0"

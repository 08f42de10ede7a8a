"""Physical invariants of SchNet in float64 (through the Python reference path)."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from tests.conftest import cuni_alloy, make_schnet, water_dimer
from tests.python.reference import energy, evaluate


def random_rotation(seed):
    return Rotation.random(random_state=seed).as_matrix()


@pytest.mark.parametrize("periodic", [False, True])
def test_energy_invariant_under_rotation_translation_permutation(schnet_cuni, periodic):
    atoms = cuni_alloy(seed=11)
    if not periodic:
        atoms.pbc = False
    e0, f0, _, _ = evaluate(schnet_cuni, atoms)
    for seed in range(3):
        rotation = random_rotation(seed)
        moved = atoms.copy()
        moved.positions = atoms.positions @ rotation.T + np.random.default_rng(seed).normal(size=3) * 3.0
        moved.cell = atoms.cell[:] @ rotation.T
        order = np.random.default_rng(seed).permutation(len(atoms))
        moved = moved[order]
        e1, f1, _, _ = evaluate(schnet_cuni, moved)
        assert abs(e1 - e0) <= 1e-12 * abs(e0)
        # forces rotate with the structure and follow the permutation
        np.testing.assert_allclose(f1, (f0 @ rotation.T)[order], atol=1e-11)


def test_forces_equal_central_finite_differences(schnet_cuni):
    atoms = cuni_alloy(seed=12)
    _, forces, _, _ = evaluate(schnet_cuni, atoms)
    h = 1e-5
    rng = np.random.default_rng(0)
    for atom in rng.choice(len(atoms), 4, replace=False):
        for axis in range(3):
            plus, minus = atoms.copy(), atoms.copy()
            plus.positions[atom, axis] += h
            minus.positions[atom, axis] -= h
            numeric = -(energy(schnet_cuni, plus) - energy(schnet_cuni, minus)) / (2 * h)
            assert abs(numeric - forces[atom, axis]) < 1e-7


def test_energy_and_forces_continuous_across_cutoff():
    model = make_schnet(cutoff=4.0, num_interactions=2)
    from ase import Atoms

    energies, forces = [], []
    distances = np.linspace(3.9, 4.1, 201)  # steps of 1e-3 A through the 4.0 A cutoff
    for d in distances:
        atoms = Atoms("CuNiCu", positions=[[0, 0, 0], [2.3, 0, 0], [2.3 + d, 0.0, 0.0]])
        e, f, _, _ = evaluate(model, atoms)
        energies.append(e)
        forces.append(f)
    energies, forces = np.array(energies), np.array(forces)
    # A jump J at the cutoff shows up as a second difference of size J, whereas a
    # smooth curve sampled every 1e-3 A has second differences of order 1e-9 here.
    # (An envelope that is off by 1% of the cutoff gives 9e-7 and 4e-5.)
    assert np.abs(np.diff(energies, 2)).max() < 1e-8
    assert np.abs(np.diff(forces, 2, axis=0)).max() < 1e-5
    # The force on the far atom fades linearly to zero at the cutoff: 1e-3 A before it,
    # it is 1% of its value 0.1 A before it (an envelope reaching zero 1% beyond the
    # cutoff leaves 29%).
    far_force = forces[distances < 4.0][:, 2, 0]
    assert abs(far_force[-1]) < 5e-2 * abs(far_force[0])


def test_supercell_energy_is_extensive(schnet_cuni):
    atoms = cuni_alloy(repeat=(1, 1, 1), seed=13)  # 4-atom cell, smaller than 2 cutoffs
    e1 = energy(schnet_cuni, atoms)
    for repeat in [(2, 1, 1), (2, 3, 1), (2, 2, 2)]:
        n = np.prod(repeat)
        assert abs(energy(schnet_cuni, atoms.repeat(repeat)) - n * e1) <= 1e-11 * abs(n * e1)


def test_distant_molecules_are_independent(schnet_ho):
    a = water_dimer()
    b = water_dimer()
    b.rotate(40, "x")
    combined = a.copy() + b.copy()
    combined.positions[len(a):] += [50.0, 0.0, 0.0]
    e_sum = energy(schnet_ho, a) + energy(schnet_ho, b)
    assert abs(energy(schnet_ho, combined) - e_sum) <= 1e-12 * abs(e_sum)


def test_stress_equals_strain_derivative(schnet_cuni):
    from tests.conftest import TRICLINIC_STRAIN

    atoms = cuni_alloy(seed=14, strain=TRICLINIC_STRAIN)
    _, _, stress, _ = evaluate(schnet_cuni, atoms, stress=True)
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
                numeric.append(energy(schnet_cuni, deformed))
            derivative = (numeric[0] - numeric[1]) / (2 * h) / volume
            assert abs(derivative - stress[a, b]) < 1e-8

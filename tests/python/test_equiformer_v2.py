"""EquiformerV2 beyond the generic suite (which runs its exactly equivariant tiny
configuration: gate activation, O(3)): the S2-activation variant against its
documented grid error, the chiral SO(3) variant, edges exactly along the axes,
float32, and TorchScript equal to eager."""

import numpy as np
import pytest
import torch
from ase import Atoms
from scipy.spatial.transform import Rotation

from tests.conftest import cuni_alloy, make_model
from tests.python.reference import energy, evaluate


def rotation_errors(model, atoms, count=3):
    """max relative (energy, force) error under `count` random rotations."""
    e0, f0, _, _ = evaluate(model, atoms)
    errors = []
    for seed in range(count):
        rotation = Rotation.random(random_state=seed).as_matrix()
        moved = atoms.copy()
        moved.positions = atoms.positions @ rotation.T
        moved.cell = atoms.cell[:] @ rotation.T
        e1, f1, _, _ = evaluate(model, moved)
        errors.append((abs(e1 - e0) / abs(e0), np.abs(f1 - f0 @ rotation.T).max() / np.abs(f0).max()))
    return np.max(errors, axis=0)


@pytest.mark.parametrize("grid", ["gauss_legendre", "equiangular"])
@pytest.mark.parametrize("resolution, energy_bound, force_bound", [(None, 1e-6, 3e-3), ([16, 16], 1e-12, 1e-10)])
def test_s2_activation_within_its_grid_error(resolution, energy_bound, force_bound, grid):
    """The S2 activation's equivariance error (models/equiformer_v2.py's table: l_max 2,
    m_max 1, reference resolution 1.6e-8 energy / 7.5e-5 forces (equiangular 1.1e-8 /
    6.2e-5), 16 x 16 grids 0 / 5.2e-15 (0 / 5.8e-15))."""
    model = make_model("equiformer_v2", activation="s2", equivariance_group="SO(3)", grid_resolution=resolution,
                       grid=grid)
    atoms = cuni_alloy(seed=11)
    atoms.pbc = False
    energy_error, force_error = rotation_errors(model, atoms)
    assert energy_error < energy_bound and force_error < force_bound, (energy_error, force_error)


def test_s2_variant_repeats_bitwise_and_scripts():
    model = make_model("equiformer_v2", activation="s2", grid_mlp=True)
    atoms = cuni_alloy(seed=16)
    first = evaluate(model, atoms)
    again = evaluate(model, atoms)
    assert first[0] == again[0] and np.array_equal(first[1], again[1])
    scripted = torch.jit.script(model)
    species = torch.tensor([0, 1, 1, 0])
    positions = torch.tensor(atoms.positions[:4])
    edges = torch.tensor([[i, j] for i in range(4) for j in range(4) if i != j]).t()
    vectors = positions[edges[1]] - positions[edges[0]]
    assert torch.equal(scripted(species, edges, vectors), model(species, edges, vectors))


def test_chiral_variant_is_rotation_exact_but_not_mirror_symmetric():
    model = make_model("equiformer_v2", equivariance_group="SO(3)")
    atoms = cuni_alloy(seed=11)
    atoms.pbc = False
    energy_error, force_error = rotation_errors(model, atoms)
    assert energy_error < 1e-12 and force_error < 1e-11
    mirrored = atoms.copy()
    mirrored.positions[:, 2] *= -1.0
    assert abs(energy(model, mirrored) - energy(model, atoms)) > 1e-9 * abs(energy(model, atoms))


@pytest.mark.parametrize("activation", ["gate", "s2"])
def test_edges_along_the_axes_have_finite_exact_forces(activation):
    """Bonds exactly along +-x, +-y, +-z (the frames' poles and their seam at the
    equator): forces finite and equal to central differences."""
    model = make_model("equiformer_v2", activation=activation, grid_resolution=[24, 24])
    atoms = Atoms("CuNiCuNiCu", positions=[[0, 0, 0], [2.4, 0, 0], [0, 2.5, 0], [0, 0, 2.3], [-2.45, 0, 0]])
    _, forces, _, _ = evaluate(model, atoms)
    assert np.all(np.isfinite(forces))
    h = 1e-5
    for atom in range(len(atoms)):
        for axis in range(3):
            plus, minus = atoms.copy(), atoms.copy()
            plus.positions[atom, axis] += h
            minus.positions[atom, axis] -= h
            numeric = -(energy(model, plus) - energy(model, minus)) / (2 * h)
            tolerance = 1e-7 if activation == "gate" else 1e-5  # the S2 seam's grid error
            assert abs(numeric - forces[atom, axis]) < tolerance * max(np.abs(forces).max(), 1.0)


def test_grid_option_is_checked_and_kept():
    with pytest.raises(ValueError, match="grid must be one of"):
        make_model("equiformer_v2", activation="s2", grid="lebedev")
    model = make_model("equiformer_v2", activation="s2", grid_mlp=True, grid="equiangular")
    assert model.hyperparameters()["grid"] == "equiangular"
    assert model.blocks[0].ga.act.grid.polar_axis == "z" and model.blocks[0].ffn.grid.polar_axis == "y"
    assert model.blocks[0].ffn.grid.kind == "equiangular"


def test_float32_follows_float64():
    model = make_model("equiformer_v2")
    atoms = cuni_alloy(seed=3)
    e64, f64, _, _ = evaluate(model, atoms)
    e32, f32, _, _ = evaluate(model.float(), atoms)
    assert abs(e32 - e64) < 1e-5 * abs(e64)
    assert np.abs(f32 - f64).max() < 1e-4 * np.abs(f64).max()

"""TorchForce with an equipot model gives the ASE calculator's energies and forces
(periodic orthogonal and triclinic boxes, a non-periodic molecule; Reference and CPU
platforms; float64 and float32 models)."""

import numpy as np
import pytest

from equipot.openmm import TorchForce, create_system
from omm_helpers import (
    PLATFORMS,
    cuni_fcc,
    cuni_triclinic,
    evaluate,
    make_topology,
    openmm_system,
    reference_results,
    water_cluster,
)

STRUCTURES = {
    "fcc-orthogonal": ("cuni", cuni_fcc),
    "triclinic": ("cuni", cuni_triclinic),
    "water-molecules": ("ho", water_cluster),
}
# OpenMM's Reference and CPU platforms hand the kernel double-precision positions;
# a float32 model then computes in single precision.
TOLERANCE = {"float64": 1e-9, "float32": 1e-5}


def assert_close(energy, forces, ref_energy, ref_forces, rtol):
    assert abs(energy - ref_energy) <= rtol * abs(ref_energy), (energy, ref_energy)
    scale = np.abs(ref_forces).max()
    assert np.abs(forces - ref_forces).max() <= rtol * scale, np.abs(forces - ref_forces).max() / scale


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("structure", list(STRUCTURES))
def test_matches_ase_calculator(models, structure, dtype, platform):
    name, build = STRUCTURES[structure]
    symbols, positions, cell = build()
    path = models[(name, dtype)]
    ref_energy, ref_forces = reference_results(path, symbols, positions, cell)
    assert np.abs(ref_forces).max() > 1.0  # a structure with real forces

    system = openmm_system(symbols, cell)
    force = TorchForce(path, elements=symbols, periodic=cell is not None)
    assert force.isEquipotModel() and force.getModelElements() == sorted(set(symbols), key=["H", "O", "Cu", "Ni"].index)
    system.addForce(force)
    energy, forces = evaluate(system, positions, platform, cell)
    assert_close(energy, forces, ref_energy, ref_forces, TOLERANCE[dtype])


@pytest.mark.parametrize("platform", PLATFORMS)
def test_create_system_periodic(models, platform):
    symbols, positions, cell = cuni_fcc(seed=5)
    path = models[("cuni", "float64")]
    system = create_system(make_topology(symbols, cell), path)
    assert system.usesPeriodicBoundaryConditions()
    energy, forces = evaluate(system, positions, platform, cell)
    assert_close(energy, forces, *reference_results(path, symbols, positions, cell), 1e-9)


def test_create_system_molecule(models):
    symbols, positions, _ = water_cluster(num_molecules=3, seed=4)
    path = models[("ho", "float64")]
    system = create_system(make_topology(symbols, residue_size=3), path, threads=1)
    assert not system.usesPeriodicBoundaryConditions()
    assert TorchForce.cast(system.getForce(0)).getProperties()["threads"] == "1"
    energy, forces = evaluate(system, positions)
    assert_close(energy, forces, *reference_results(path, symbols, positions, None), 1e-9)


def test_force_group_and_subset_by_topology(models):
    """elements=Topology with atoms=... picks the atoms' elements; other particles feel
    no force, and the energy lands only in the force's group."""
    symbols, positions, _ = water_cluster(num_molecules=4, seed=2)
    path = models[("ho", "float64")]
    subset = [3, 4, 5, 9, 10, 11]
    system = openmm_system(symbols, None)
    force = TorchForce(path, elements=make_topology(symbols, residue_size=3), atoms=subset)
    force.setForceGroup(3)
    system.addForce(force)
    assert force.getParticles() == subset and force.getElements() == [symbols[i] for i in subset]
    energy, forces = evaluate(system, positions, groups={3})
    ref_energy, ref_forces = reference_results(path, [symbols[i] for i in subset], positions[subset], None)
    assert_close(energy, forces[subset], ref_energy, ref_forces, 1e-9)
    others = [i for i in range(len(symbols)) if i not in subset]
    assert np.all(forces[others] == 0.0)
    assert evaluate(system, positions, groups={0})[0] == 0.0

"""create_mixed_system: the model describes the chosen atoms only (mechanical
embedding); MM terms inside the ML region are gone; interpolate adds
lambda_interpolate between the MM and the ML/MM descriptions."""

import numpy as np
import openmm
import pytest

from equipot.openmm import TorchForce, create_mixed_system
from omm_helpers import PLATFORMS, evaluate, make_topology, reference_results, water_cluster

ML_ATOMS = list(range(6))  # the first two water molecules


def water_mm_system(num_molecules, rigid=False, cmap=False):
    """A TIP3P-like water model with flexible bonds and angles, a CustomBondForce
    H-H term (Urey-Bradley style) and Coulomb + LJ without cutoff; cmap adds two
    CMAP terms, one inside the first two molecules and one in the last two."""
    system = openmm.System()
    bonds = openmm.HarmonicBondForce()
    angles = openmm.HarmonicAngleForce()
    urey_bradley = openmm.CustomBondForce("0.5*k*(r-r0)^2")
    urey_bradley.addPerBondParameter("k")
    urey_bradley.addPerBondParameter("r0")
    nonbonded = openmm.NonbondedForce()
    nonbonded.setNonbondedMethod(openmm.NonbondedForce.NoCutoff)
    pairs = []
    for m in range(num_molecules):
        o, h1, h2 = 3 * m, 3 * m + 1, 3 * m + 2
        for mass in (15.999, 1.008, 1.008):
            system.addParticle(mass)
        nonbonded.addParticle(-0.834, 0.315, 0.635)
        nonbonded.addParticle(0.417, 0.1, 0.0)
        nonbonded.addParticle(0.417, 0.1, 0.0)
        for h in (h1, h2):
            bonds.addBond(o, h, 0.1, 462750.0)  # equilibria away from the geometry: real energies
            pairs.append((o, h))
            if rigid:
                system.addConstraint(o, h, 0.09572)
        angles.addAngle(h1, o, h2, 1.9, 836.8)
        urey_bradley.addBond(h1, h2, [5000.0, 0.16])
    nonbonded.createExceptionsFromBonds(pairs, 0.5, 0.5)
    for force in (bonds, angles, urey_bradley, nonbonded):
        system.addForce(force)
    if cmap:
        torsions = openmm.CMAPTorsionForce()
        grid = np.random.default_rng(0).normal(scale=5.0, size=16)
        torsions.addMap(4, list(grid))
        torsions.addTorsion(0, 0, 1, 2, 3, 1, 2, 3, 4)
        if num_molecules >= 4:
            torsions.addTorsion(0, 6, 7, 8, 9, 7, 8, 9, 10)
        system.addForce(torsions)
    return system


@pytest.fixture
def waters():
    symbols, positions, _ = water_cluster(num_molecules=4, seed=3)
    return symbols, positions, make_topology(symbols, residue_size=3)


def torch_force_of(system):
    for force in system.getForces():
        if TorchForce.isinstance(force):
            return TorchForce.cast(force)
    raise AssertionError("no TorchForce in the system")


@pytest.mark.parametrize("platform", PLATFORMS)
def test_mixed_system_energy_split(models, waters, platform):
    symbols, positions, topology = waters
    path = models[("ho", "float64")]
    mm_system = water_mm_system(4, rigid=True, cmap=True)
    mixed = create_mixed_system(topology, mm_system, ML_ATOMS, path)

    ml = torch_force_of(mixed)
    assert ml.getParticles() == ML_ATOMS and ml.getElements() == symbols[:6]
    ml.setForceGroup(5)
    ml_energy, ml_forces = evaluate(mixed, positions, platform, groups={5})
    ref_energy, ref_forces = reference_results(path, symbols[:6], positions[:6], None)
    assert ml_energy == pytest.approx(ref_energy, rel=1e-9)
    np.testing.assert_allclose(ml_forces[:6], ref_forces, rtol=0, atol=1e-9 * np.abs(ref_forces).max())
    assert np.all(ml_forces[6:] == 0.0)  # the model sees the chosen atoms only

    # MM part: everything except the MM energy of the ML region by itself.
    mm_full, _ = evaluate(mm_system, positions, platform)
    mm_region, _ = evaluate(water_mm_system(2, cmap=True), positions[:6], platform)
    total, _ = evaluate(mixed, positions, platform)
    # (the CPU platform computes nonbonded terms in single precision)
    tolerance = 1e-6 if platform == "Reference" else 1e-6 * (abs(mm_full) + abs(ref_energy))
    assert total == pytest.approx(mm_full - mm_region + ref_energy, abs=tolerance)

    # constraints inside the ML region are removed, the others kept
    constrained = {tuple(mixed.getConstraintParameters(c)[:2]) for c in range(mixed.getNumConstraints())}
    assert constrained == {(o, h) for o in (6, 9) for h in (o + 1, o + 2)}


def test_interpolation(models, waters):
    symbols, positions, topology = waters
    path = models[("ho", "float64")]
    mm_system = water_mm_system(4, cmap=True)
    mixed = create_mixed_system(topology, mm_system, ML_ATOMS, path)
    interpolated = create_mixed_system(topology, mm_system, ML_ATOMS, path, interpolate=True)

    context = openmm.Context(interpolated, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
    context.setPositions(positions * 0.1)
    assert context.getParameter("lambda_interpolate") == 1.0

    def energy_and_forces(lam):
        context.setParameter("lambda_interpolate", lam)
        state = context.getState(getEnergy=True, getForces=True)
        return state.getPotentialEnergy()._value, state.getForces(asNumpy=True)._value

    mixed_energy, mixed_forces = evaluate(mixed, positions)
    mm_energy, mm_forces = evaluate(mm_system, positions)
    for lam, (energy, forces) in ((1.0, (mixed_energy, mixed_forces)), (0.0, (mm_energy, mm_forces))):
        e, f = energy_and_forces(lam)
        assert e == pytest.approx(energy, abs=1e-6)
        np.testing.assert_allclose(f, forces, atol=1e-6)
    e, _ = energy_and_forces(0.25)
    assert e == pytest.approx(0.25 * mixed_energy + 0.75 * mm_energy, abs=1e-6)


def test_mixed_system_rejects_bad_input(models, waters):
    symbols, positions, topology = waters
    path = models[("ho", "float64")]
    with pytest.raises(ValueError, match="empty"):
        create_mixed_system(topology, water_mm_system(4), [], path)
    with pytest.raises(ValueError, match="particle indices"):
        create_mixed_system(topology, water_mm_system(4), [0, 99], path)
    with pytest.raises(ValueError, match="topology has 12 atoms"):
        create_mixed_system(topology, water_mm_system(3), [0, 1, 2], path)

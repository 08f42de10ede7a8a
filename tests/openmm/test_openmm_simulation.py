"""TorchForce inside OpenMM's machinery: CustomCVForce, LocalEnergyMinimizer,
app.Simulation with a reporter, NVE energy conservation, XML round trips."""

import copy
import io

import numpy as np
import openmm
import pytest
from openmm import app, unit

from equipot.openmm import TorchForce
from omm_helpers import PLATFORMS, cuni_fcc, evaluate, make_topology, openmm_system, water_cluster


def cuni_system(models, dtype="float64", seed=1):
    symbols, positions, cell = cuni_fcc(seed=seed)
    system = openmm_system(symbols, cell)
    system.addForce(TorchForce(models[("cuni", dtype)], elements=symbols, periodic=True))
    return system, symbols, positions, cell


@pytest.mark.parametrize("platform", PLATFORMS)
def test_inside_custom_cv_force(models, platform):
    system, symbols, positions, cell = cuni_system(models)
    energy, forces = evaluate(system, positions, platform, cell)

    cv_system = openmm_system(symbols, cell)
    cv = openmm.CustomCVForce("scale*ml + 7")
    cv.addGlobalParameter("scale", 2.0)
    cv.addCollectiveVariable("ml", TorchForce(models[("cuni", "float64")], elements=symbols, periodic=True))
    cv_system.addForce(cv)
    cv_energy, cv_forces = evaluate(cv_system, positions, platform, cell)
    assert cv_energy == pytest.approx(2 * energy + 7, rel=1e-12)
    np.testing.assert_allclose(cv_forces, 2 * forces, rtol=1e-12, atol=1e-10)
    # the TorchForce inside the CustomCVForce survives an XML round trip
    restored = openmm.XmlSerializer.deserialize(openmm.XmlSerializer.serialize(cv_system))
    assert evaluate(restored, positions, platform, cell)[0] == cv_energy


@pytest.mark.parametrize("platform", PLATFORMS)
def test_local_energy_minimizer(models, platform):
    system, _, positions, cell = cuni_system(models)
    context = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName(platform))
    context.setPositions(positions * 0.1)
    before = context.getState(getEnergy=True, getForces=True)
    openmm.LocalEnergyMinimizer.minimize(context, 0.05, 1000)
    after = context.getState(getEnergy=True, getForces=True)
    assert after.getPotentialEnergy()._value < before.getPotentialEnergy()._value

    def max_force(state):
        return np.linalg.norm(state.getForces(asNumpy=True)._value, axis=1).max()

    assert max_force(after) < 0.1 * max_force(before), (max_force(before), max_force(after))


def test_app_simulation_with_reporter(models):
    symbols, positions, cell = cuni_fcc(seed=2)
    topology = make_topology(symbols, cell)
    from equipot.openmm import create_system

    system = create_system(topology, models[("cuni", "float32")])
    integrator = openmm.LangevinMiddleIntegrator(300 * unit.kelvin, 1 / unit.picosecond, 2 * unit.femtosecond)
    simulation = app.Simulation(topology, system, integrator, openmm.Platform.getPlatformByName("CPU"))
    simulation.context.setPositions(positions * 0.1)
    simulation.minimizeEnergy(maxIterations=20)
    report = io.StringIO()
    simulation.reporters.append(
        app.StateDataReporter(report, 10, step=True, potentialEnergy=True, temperature=True, volume=True)
    )
    simulation.step(50)
    lines = report.getvalue().strip().splitlines()
    assert len(lines) == 6 and lines[0].startswith("#")
    energies = [float(line.split(",")[1]) for line in lines[1:]]
    assert all(np.isfinite(energies))


def test_nve_energy_conservation(models):
    """2,000 velocity-Verlet steps of 1 fs, 32 CuNi atoms at 300 K: the total energy
    stays within 1e-4 of the mean kinetic energy of its initial value (measured: about
    3e-6; a force inconsistent with the energy breaks this by orders of magnitude)."""
    system, _, positions, _ = cuni_system(models)
    integrator = openmm.VerletIntegrator(1.0 * unit.femtosecond)
    context = openmm.Context(system, integrator, openmm.Platform.getPlatformByName("CPU"))
    context.setPositions(positions * 0.1)
    context.setVelocitiesToTemperature(300 * unit.kelvin, 1)
    totals, kinetic = [], []
    for _ in range(40):
        integrator.step(50)
        state = context.getState(getEnergy=True)
        kinetic.append(state.getKineticEnergy()._value)
        totals.append(kinetic[-1] + state.getPotentialEnergy()._value)
    assert context.getStepCount() == 2000
    deviation = np.abs(np.array(totals) - totals[0]).max()
    assert deviation < 1e-4 * np.mean(kinetic), (deviation, np.mean(kinetic))


def test_xml_round_trip_restores_identical_energies(models):
    symbols, positions, _ = water_cluster(num_molecules=3, seed=1)
    system = openmm_system(symbols, None)
    force = TorchForce(models[("ho", "float64")], elements=make_topology(symbols), atoms=list(range(6)))
    force.setForceGroup(2)
    force.setName("ml water")
    system.addForce(force)
    xml = openmm.XmlSerializer.serialize(system)
    assert 'type="EquipotTorchForce"' in xml
    restored = openmm.XmlSerializer.deserialize(xml)

    plain = restored.getForce(0)
    assert TorchForce.isinstance(plain) and not TorchForce.isinstance(openmm.HarmonicBondForce())
    cast = TorchForce.cast(plain)
    assert cast.getParticles() == list(range(6)) and cast.getElements() == symbols[:6]
    assert cast.getForceGroup() == 2 and cast.getName() == "ml water"
    assert cast.getFile() == models[("ho", "float64")] and cast.isEquipotModel()
    assert cast.getModelBytes() == force.getModelBytes()

    energy, forces = evaluate(system, positions)
    energy2, forces2 = evaluate(restored, positions)
    assert energy2 == energy and np.array_equal(forces2, forces)
    # copy.deepcopy and pickling of the System go through the same proxy
    energy3, _ = evaluate(copy.deepcopy(system), positions)
    assert energy3 == energy


def test_xml_round_trip_of_module_force():
    import torch

    class Scaled(torch.nn.Module):
        def forward(self, positions: torch.Tensor, box: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
            return s * (positions**2).sum() + box.sum()

    force = TorchForce(torch.jit.script(Scaled()), {"CUDAGraphWarmupSteps": "3"})
    force.setUsesPeriodicBoundaryConditions(True)
    force.addGlobalParameter("s", 1.5)
    force.addEnergyParameterDerivative("s")
    force.setOutputsForces(False)
    system = openmm.System()
    for _ in range(4):
        system.addParticle(1.0)
    system.addForce(force)
    restored_system = openmm.XmlSerializer.deserialize(openmm.XmlSerializer.serialize(system))
    restored = TorchForce.cast(restored_system.getForce(0))
    assert restored.usesPeriodicBoundaryConditions() and restored.getNumGlobalParameters() == 1
    assert restored.getGlobalParameterName(0) == "s" and restored.getGlobalParameterDefaultValue(0) == 1.5
    assert restored.getEnergyParameterDerivativeName(0) == "s"
    assert restored.getProperties()["CUDAGraphWarmupSteps"] == "3"
    assert isinstance(restored.getModule(), torch.jit.ScriptModule)
    # A lone force round-trips too; cast keeps the deserialized owner alive.
    lone = TorchForce.cast(openmm.XmlSerializer.deserialize(openmm.XmlSerializer.serialize(force)))
    assert lone.usesPeriodicBoundaryConditions() and lone.getGlobalParameterName(0) == "s"

    positions = np.arange(12.0).reshape(4, 3) * 0.1
    box = sum(np.array(v.value_in_unit(unit.nanometer)).sum() for v in system.getDefaultPeriodicBoxVectors())
    for s in (system, restored_system):
        energy, _ = evaluate(s, positions * 10)
        assert energy == pytest.approx(1.5 * (positions**2).sum() + box, rel=1e-12)

"""TorchScript modules in openmm-torch's calling convention: positions (nm) [, box]
[, global parameters] -> energy (kJ/mol) [, forces]; and the ways openmm-torch's own
TorchForce behaves that users can tell (input dtype, default name, property_map,
derivatives of global parameters only)."""

from typing import Tuple

import numpy as np
import openmm
import pytest
import torch
from openmm import unit

from equipot import openmmplugin
from equipot.openmm import TorchForce
from omm_helpers import PLATFORMS

BOX = 2.5  # nm
K = 3.0


class PeriodicWell(torch.nn.Module):
    """E = k * sum_i |minimum-image(x_i - box centre)|^2 in an orthorhombic box."""

    def forward(self, positions: torch.Tensor, box: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        lengths = torch.diagonal(box)
        d = positions - 0.5 * lengths
        d = d - torch.round(d / lengths) * lengths
        return k * (d**2).sum()


class PeriodicWellWithForces(torch.nn.Module):
    def forward(self, positions: torch.Tensor, box: torch.Tensor, k: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        lengths = torch.diagonal(box)
        d = positions - 0.5 * lengths
        d = d - torch.round(d / lengths) * lengths
        return k * (d**2).sum(), -2.0 * k * d


class Float32Checked(torch.nn.Module):
    """float32 weights; forward fails unless every input is float64, as openmm-torch
    passes them on the Reference and CPU platforms: E = w * k * sum_i |x_i|^2."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.tensor(0.5, dtype=torch.float32))

    def forward(self, positions: torch.Tensor, box: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        for name, value in (("positions", positions), ("box", box), ("k", k)):
            if value.dtype != torch.float64:
                raise RuntimeError(name + " is not float64")
        return self.weight * k * (positions**2).sum()


class Float32Pairs(torch.nn.Module):
    """Non-periodic, no parameters, float32 weights: E = sum_{i<j} w * |r_ij|^2."""

    def __init__(self):
        super().__init__()
        self.register_buffer("weight", torch.tensor(1.5, dtype=torch.float32))

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        d = positions.unsqueeze(0) - positions.unsqueeze(1)
        return 0.5 * self.weight * (d**2).sum()


def expected_well(positions, k=K):
    d = positions - 0.5 * BOX
    d -= np.round(d / BOX) * BOX
    return k * (d**2).sum(), -2.0 * k * d, (d**2).sum()


def periodic_system(force, n=10):
    system = openmm.System()
    system.setDefaultPeriodicBoxVectors(openmm.Vec3(BOX, 0, 0), openmm.Vec3(0, BOX, 0), openmm.Vec3(0, 0, BOX))
    for _ in range(n):
        system.addParticle(1.0)
    system.addForce(force)
    return system


def state_of(system, positions, platform, **parameters):
    context = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName(platform))
    context.setPositions(positions)
    for name, value in parameters.items():
        context.setParameter(name, value)
    return context.getState(getEnergy=True, getForces=True, getParameterDerivatives=True)


@pytest.fixture
def positions():
    return np.random.default_rng(7).random((10, 3)) * 3 * BOX - BOX  # many outside the box


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("outputs_forces", [False, True])
def test_periodic_module_with_parameter_and_derivative(positions, platform, outputs_forces):
    module = torch.jit.script(PeriodicWellWithForces() if outputs_forces else PeriodicWell())
    force = TorchForce(module)
    force.setUsesPeriodicBoundaryConditions(True)
    force.setOutputsForces(outputs_forces)
    force.addGlobalParameter("k", K)
    force.addEnergyParameterDerivative("k")
    assert force.getFile() == "" and not force.isEquipotModel()
    assert force.getGlobalParameterName(0) == "k" and force.getGlobalParameterDefaultValue(0) == K
    system = periodic_system(force)

    state = state_of(system, positions, platform)
    energy, forces, derivative = expected_well(positions)
    assert state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole) == pytest.approx(energy, rel=1e-12)
    np.testing.assert_allclose(state.getForces(asNumpy=True)._value, forces, rtol=1e-12, atol=1e-12)
    assert state.getEnergyParameterDerivatives()["k"] == pytest.approx(derivative, rel=1e-12)

    state = state_of(system, positions, platform, k=0.5)  # the current value is passed
    assert state.getPotentialEnergy()._value == pytest.approx(expected_well(positions, 0.5)[0], rel=1e-12)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_inputs_are_float64_whatever_the_module_dtype(positions, platform):
    force = TorchForce(torch.jit.script(Float32Checked()))
    force.setUsesPeriodicBoundaryConditions(True)
    force.addGlobalParameter("k", K)
    force.addEnergyParameterDerivative("k")
    state = state_of(periodic_system(force), positions, platform)
    # float32 inputs would have raised; float64 positions give float64 accuracy
    assert state.getPotentialEnergy()._value == pytest.approx(0.5 * K * (positions**2).sum(), rel=1e-14)
    np.testing.assert_allclose(state.getForces(asNumpy=True)._value, -K * positions, rtol=1e-14)
    assert state.getEnergyParameterDerivatives()["k"] == pytest.approx(0.5 * (positions**2).sum(), rel=1e-14)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_module_from_file_with_float32_weights(tmp_path, platform):
    path = tmp_path / "pairs.pt"
    torch.jit.script(Float32Pairs()).save(str(path))
    force = TorchForce(str(path))
    assert force.getFile() == str(path)
    assert isinstance(force.getModule(), torch.jit.ScriptModule)
    system = openmm.System()
    for _ in range(6):
        system.addParticle(1.0)
    system.addForce(force)
    positions = np.random.default_rng(1).random((6, 3))
    state = state_of(system, positions, platform)
    d = positions[None, :, :] - positions[:, None, :]
    energy = 0.5 * 1.5 * (d**2).sum()
    forces = -2 * 1.5 * (positions * 6 - positions.sum(0))
    assert state.getPotentialEnergy()._value == pytest.approx(energy, rel=1e-5)
    np.testing.assert_allclose(state.getForces(asNumpy=True)._value, forces, rtol=1e-5, atol=1e-5)


def test_properties():
    module = torch.jit.script(Float32Pairs())
    force = TorchForce(module, {"useCUDAGraphs": "true", "CUDAGraphWarmupSteps": "5"})
    assert force.getProperties() == {"useCUDAGraphs": "true", "CUDAGraphWarmupSteps": "5"}
    force = TorchForce(module, {"useCUDAGraphs": True})
    assert force.getProperties()["useCUDAGraphs"] == "true"
    assert TorchForce(module).getProperties() == {"useCUDAGraphs": "false", "CUDAGraphWarmupSteps": "10"}
    force.setProperty("CUDAGraphWarmupSteps", "20")
    assert force.getProperties()["CUDAGraphWarmupSteps"] == "20"


def test_default_name_is_torch_force(models):
    assert TorchForce(torch.jit.script(Float32Pairs())).getName() == "TorchForce"
    assert TorchForce(models[("ho", "float64")]).getName() == "TorchForce"


def test_property_map_like_openmm_torch():
    """openmm-torch's SWIG module has property_map (a str -> str map); properties built
    with it are accepted."""
    properties = openmmplugin.property_map()
    properties["useCUDAGraphs"] = "true"
    properties["CUDAGraphWarmupSteps"] = "3"
    force = TorchForce(torch.jit.script(Float32Pairs()), properties)
    assert force.getProperties() == {"useCUDAGraphs": "true", "CUDAGraphWarmupSteps": "3"}


def test_energy_derivative_needs_a_global_parameter_first():
    """As in openmm-torch, at the call; the derivative then follows its parameter."""
    force = TorchForce(torch.jit.script(PeriodicWell()))
    with pytest.raises(openmm.OpenMMException, match=r"addEnergyParameterDerivative: 'k' is not a global parameter "
                                                     r"of this force \(add it with addGlobalParameter first; global "
                                                     r"parameters: none\)"):
        force.addEnergyParameterDerivative("k")
    assert force.getNumEnergyParameterDerivatives() == 0
    force.addGlobalParameter("k", K)
    force.addEnergyParameterDerivative("k")
    with pytest.raises(openmm.OpenMMException, match="'q' is not a global parameter .* global parameters: k"):
        force.addEnergyParameterDerivative("q")
    force.setGlobalParameterName(0, "stiffness")
    assert force.getEnergyParameterDerivativeName(0) == "stiffness"

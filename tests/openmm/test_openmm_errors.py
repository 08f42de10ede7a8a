"""Bad input gives an OpenMMException (or a Python exception) whose message names the
problem: missing or corrupt models, unknown elements, wrong module signatures,
unknown properties, inconsistent settings."""

import os

import numpy as np
import openmm
import pytest
import torch

from equipot.openmm import TorchForce
from omm_helpers import make_topology, openmm_system, water_cluster


def make_context(system):
    context = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
    context.setPositions(np.random.default_rng(0).random((system.getNumParticles(), 3)))
    return context


def system_with(force, num_particles=3):
    system = openmm.System()
    for _ in range(num_particles):
        system.addParticle(1.0)
    system.addForce(force)
    return system


class Positions(torch.nn.Module):
    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        return (positions**2).sum()


class Pair(torch.nn.Module):
    def forward(self, positions: torch.Tensor):
        return (positions**2).sum(), -2 * positions


class Broken(torch.nn.Module):
    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        return positions.view(-1, 7).sum()


class Raises(torch.nn.Module):
    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        if positions.shape[0] > 2:
            raise ValueError("this module takes at most two particles")
        return positions.sum()


def test_missing_file(tmp_path):
    with pytest.raises(openmm.OpenMMException, match="does not exist or cannot be read"):
        TorchForce(str(tmp_path / "missing.pt"))


def test_corrupt_and_truncated_files(tmp_path, models):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(openmm.OpenMMException, match="could not read model file .* as a TorchScript archive"):
        TorchForce(str(garbage))
    truncated = tmp_path / "truncated.pt"
    data = open(models[("ho", "float64")], "rb").read()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(openmm.OpenMMException, match="truncated.pt"):
        TorchForce(str(truncated))
    with pytest.raises(openmm.OpenMMException, match="could not read"):
        TorchForce(b"not a model")


def test_torch_save_files_get_advice(tmp_path, fitted_cuni_model):
    """A training checkpoint (written by equipot train beside the fitted model) or any
    other torch.save pickle is not reported as corrupt but gets advice."""
    checkpoint = os.path.join(os.path.dirname(fitted_cuni_model), "checkpoint.pt")
    with pytest.raises(openmm.OpenMMException, match="TorchForce: model file .* is a training checkpoint") as info:
        TorchForce(checkpoint)
    assert f"run 'export_model {checkpoint} -o model.pt'" in str(info.value)
    with pytest.raises(openmm.OpenMMException, match="is a training checkpoint.*export_model checkpoint.pt"):
        TorchForce(open(checkpoint, "rb").read())
    pickled = str(tmp_path / "tensors.pt")
    torch.save({"a": torch.zeros(2)}, pickled)
    with pytest.raises(openmm.OpenMMException, match=r"written by torch.save \(pickled Python objects\)"):
        TorchForce(pickled)


def test_unknown_element(models):
    path = models[("ho", "float64")]
    with pytest.raises(openmm.OpenMMException,
                       match=r"TorchForce: atom 2: element 'C' is not known to this model \(it knows: H O\)"):
        TorchForce(path, elements=["O", "H", "C"])
    with pytest.raises(openmm.OpenMMException, match="element 'Cu' .* not known"):
        TorchForce(path, elements=make_topology(["O", "H", "Cu"]))


def test_atom_without_element(models):
    topology = make_topology(["O", "H", "H"])
    extra = topology.addAtom("EP", None, list(topology.residues())[0])
    assert extra.element is None
    with pytest.raises(ValueError, match="atom 3 .* has no element"):
        TorchForce(models[("ho", "float64")], elements=topology)


def test_equipot_model_needs_matching_elements(models):
    force = TorchForce(models[("ho", "float64")])
    with pytest.raises(openmm.OpenMMException, match="needs the chemical element of every atom"):
        make_context(system_with(force))
    force = TorchForce(models[("ho", "float64")], elements=["O", "H"])
    with pytest.raises(openmm.OpenMMException, match="2 elements were given but the model sees 3 particles"):
        make_context(system_with(force))
    with pytest.raises(ValueError, match="3 elements were given for 2 atoms"):
        TorchForce(models[("ho", "float64")], elements=["O", "H", "H"], atoms=[0, 1])


def test_equipot_model_rejects_global_parameters(models):
    force = TorchForce(models[("ho", "float64")], elements=["O", "H", "H"])
    force.addGlobalParameter("scale", 1.0)
    with pytest.raises(openmm.OpenMMException, match="take no global parameters"):
        make_context(system_with(force))


def test_particle_indices():
    force = TorchForce(torch.jit.script(Positions()))
    with pytest.raises(openmm.OpenMMException, match="is negative"):
        force.setParticles([0, -1])
    with pytest.raises(openmm.OpenMMException, match="listed twice"):
        force.setParticles([1, 1])
    force.setParticles([0, 5])
    with pytest.raises(openmm.OpenMMException, match="particle index 5 is out of range: the System has 3 particles"):
        make_context(system_with(force))


def test_wrong_module_signature():
    force = TorchForce(torch.jit.script(Positions()))
    force.setUsesPeriodicBoundaryConditions(True)
    with pytest.raises(openmm.OpenMMException, match=r"forward\(positions\) takes 1 argument\(s\), but this force passes 2"):
        make_context(system_with(force))
    force = TorchForce(torch.jit.script(Positions()))
    force.addGlobalParameter("k", 1.0)
    with pytest.raises(openmm.OpenMMException, match="global parameter 0"):
        make_context(system_with(force))


def test_wrong_module_outputs():
    context = make_context(system_with(TorchForce(torch.jit.script(Pair()))))
    with pytest.raises(openmm.OpenMMException, match=r"returned a tuple.*setOutputsForces\(true\)"):
        context.getState(getEnergy=True)
    force = TorchForce(torch.jit.script(Positions()))
    force.setOutputsForces(True)
    context = make_context(system_with(force))
    with pytest.raises(openmm.OpenMMException, match=r"must return \(energy, forces\)"):
        context.getState(getForces=True)
    context = make_context(system_with(TorchForce(torch.jit.script(Broken()))))
    with pytest.raises(openmm.OpenMMException, match=r"forward\(positions\) failed: .*invalid for input of size 9"):
        context.getState(getEnergy=True)
    # an error raised inside TorchScript is reported by its last line, which names it
    context = make_context(system_with(TorchForce(torch.jit.script(Raises()))))
    with pytest.raises(openmm.OpenMMException, match=r"forward\(positions\) failed: builtins.ValueError: this module "
                                                     r"takes at most two particles$"):
        context.getState(getEnergy=True)


def test_unknown_derivative_parameter():
    force = TorchForce(torch.jit.script(Positions()))
    with pytest.raises(openmm.OpenMMException, match="'nope' is not a global parameter of this force"):
        force.addEnergyParameterDerivative("nope")
    force.addGlobalParameter("k", 1.0)
    force.addEnergyParameterDerivative("k")
    with pytest.raises(openmm.OpenMMException, match="the derivative with respect to 'k' was already requested"):
        force.addEnergyParameterDerivative("k")


def test_properties_are_checked(models):
    module = torch.jit.script(Positions())
    with pytest.raises(openmm.OpenMMException, match="unknown property 'useCudaGraphs'"):
        TorchForce(module, {"useCudaGraphs": "true"})
    with pytest.raises(openmm.OpenMMException, match="useCUDAGraphs must be 'true' or 'false'"):
        TorchForce(module, {"useCUDAGraphs": "maybe"})
    with pytest.raises(openmm.OpenMMException, match="CUDAGraphWarmupSteps must be a positive integer"):
        TorchForce(models[("ho", "float64")]).setProperty("CUDAGraphWarmupSteps", "0")
    for threads in ("0", "two", "-1", "2.5", "99999999999"):
        with pytest.raises(openmm.OpenMMException, match=f"property threads must be a positive integer, got '{threads}'"):
            TorchForce(module, {"threads": threads})
    with pytest.raises(ValueError, match="threads was given both as a keyword and in properties"):
        TorchForce(module, {"threads": "1"}, threads=2)


def test_python_argument_errors(models):
    with pytest.raises(TypeError, match="torch.jit.script"):
        TorchForce(Positions())
    with pytest.raises(TypeError, match="expected a model file path"):
        TorchForce(42)
    with pytest.raises(TypeError, match="single string"):
        TorchForce(models[("ho", "float64")], elements="OHH")


def test_equipot_module_without_metadata(models):
    reloaded = torch.jit.load(models[("ho", "float64")])  # extra files are dropped
    with pytest.raises(openmm.OpenMMException, match="like an equipot model but no equipot metadata"):
        TorchForce(reloaded)


def test_non_finite_positions(models):
    symbols, positions, _ = water_cluster(num_molecules=1)
    system = openmm_system(symbols, None)
    system.addForce(TorchForce(models[("ho", "float64")], elements=symbols))
    context = make_context(system)
    positions = positions * 0.1
    positions[1, 0] = np.nan
    context.setPositions(positions)
    with pytest.raises(openmm.OpenMMException, match="not finite"):
        context.getState(getEnergy=True)

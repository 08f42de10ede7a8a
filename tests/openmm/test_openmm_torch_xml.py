"""Systems serialized by openmm-torch load into equipot's TorchForce (when openmm-torch
itself is not loaded) and give the same energies as a TorchForce built directly;
equipot's own XML round-trips.

The fixture XML is written from openmm-torch's serialization proxy as documented in
its source: a <Force type="TorchForce" version="1..4"> with `file` (version 1: the
model's path), `encodedFileContents` (versions 2+: the model file's bytes in hex),
`forceGroup`, `usesPeriodic`, `outputsForces`, and children GlobalParameters
(Parameter name default), ParameterDerivatives (version 3+, Parameter name) and
Properties (version 4, Property name value). Booleans are "1"/"0" as OpenMM writes them.
"""

import io
import xml.etree.ElementTree as ET

import numpy as np
import openmm
import pytest
import torch
from openmm import unit

from equipot.openmm import TorchForce
from omm_helpers import evaluate, openmm_system, water_cluster

BOX = 2.0  # nm
NUM_PARTICLES = 8


class Well(torch.nn.Module):
    """openmm-torch convention, periodic with one global parameter:
    E = k * sum_i |minimum-image(x_i - box centre)|^2 (kJ/mol)."""

    def forward(self, positions: torch.Tensor, box: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        lengths = torch.diagonal(box)
        d = positions - 0.5 * lengths
        d = d - torch.round(d / lengths) * lengths
        return k * (d**2).sum()


def module_bytes(module):
    buffer = io.BytesIO()
    torch.jit.save(module, buffer)
    return buffer.getvalue()


def openmm_torch_force_element(version, model=None, file="", group=0, periodic=False, outputs_forces=False,
                               parameters=(), derivatives=(), properties=None):
    """The <Force type="TorchForce"> element openmm-torch's proxy writes at `version`."""
    force = ET.Element("Force", {"type": "TorchForce", "version": str(version), "file": file,
                                 "forceGroup": str(group), "usesPeriodic": "1" if periodic else "0"})
    if version >= 2:
        force.set("encodedFileContents", model.hex())
        force.set("outputsForces", "1" if outputs_forces else "0")
    globals_ = ET.SubElement(force, "GlobalParameters")
    for name, default in parameters:
        ET.SubElement(globals_, "Parameter", {"name": name, "default": repr(default)})
    if version >= 3:
        derivatives_ = ET.SubElement(force, "ParameterDerivatives")
        for name in derivatives:
            ET.SubElement(derivatives_, "Parameter", {"name": name})
    if version >= 4:
        properties_ = ET.SubElement(force, "Properties")
        for name, value in (properties or {"useCUDAGraphs": "false", "CUDAGraphWarmupSteps": "10"}).items():
            ET.SubElement(properties_, "Property", {"name": name, "value": value})
    return force


def system_xml_with(system, force_element):
    """`system` serialized by OpenMM, with `force_element` added to its forces: the XML of
    the same System with an openmm-torch TorchForce in it."""
    root = ET.fromstring(openmm.XmlSerializer.serialize(system))
    root.find("Forces").append(force_element)
    return ET.tostring(root, encoding="unicode")


def box_system():
    system = openmm.System()
    system.setDefaultPeriodicBoxVectors(openmm.Vec3(BOX, 0, 0), openmm.Vec3(0, BOX, 0), openmm.Vec3(0, 0, BOX))
    for _ in range(NUM_PARTICLES):
        system.addParticle(1.0)
    return system


def state_of(system, positions, platform="Reference", **parameters):
    context = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName(platform))
    context.setPositions(positions)
    for name, value in parameters.items():
        context.setParameter(name, value)
    state = context.getState(getEnergy=True, getForces=True, getParameterDerivatives=True)
    return (state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole),
            state.getForces(asNumpy=True).value_in_unit(unit.kilojoule_per_mole / unit.nanometer),
            dict(state.getEnergyParameterDerivatives()))


@pytest.fixture
def positions():
    return np.random.default_rng(3).random((NUM_PARTICLES, 3)) * 2 * BOX - 0.5 * BOX


@pytest.mark.parametrize("platform", ["Reference", "CPU"])
@pytest.mark.parametrize("version", [2, 3, 4])
def test_openmm_torch_system_xml_gives_the_same_energies(positions, version, platform):
    module = torch.jit.script(Well())
    derivatives = ["k"] if version >= 3 else []
    properties = {"useCUDAGraphs": "true", "CUDAGraphWarmupSteps": "7"} if version >= 4 else None
    element = openmm_torch_force_element(version, module_bytes(module), group=3, periodic=True,
                                         parameters=[("k", 2.5)], derivatives=derivatives, properties=properties)
    restored = openmm.XmlSerializer.deserialize(system_xml_with(box_system(), element))

    loaded = restored.getForce(0)
    assert TorchForce.isinstance(loaded)
    loaded = TorchForce.cast(loaded)
    assert loaded.getName() == "TorchForce" and loaded.getFile() == "" and not loaded.isEquipotModel()
    assert loaded.getForceGroup() == 3 and loaded.usesPeriodicBoundaryConditions() and not loaded.getOutputsForces()
    assert loaded.getNumGlobalParameters() == 1
    assert (loaded.getGlobalParameterName(0), loaded.getGlobalParameterDefaultValue(0)) == ("k", 2.5)
    assert [loaded.getEnergyParameterDerivativeName(i)
            for i in range(loaded.getNumEnergyParameterDerivatives())] == derivatives
    assert loaded.getProperties() == (properties or {"useCUDAGraphs": "false", "CUDAGraphWarmupSteps": "10"})

    direct = TorchForce(module)
    direct.setUsesPeriodicBoundaryConditions(True)
    direct.addGlobalParameter("k", 2.5)
    for name in derivatives:
        direct.addEnergyParameterDerivative(name)
    system = box_system()
    system.addForce(direct)
    for k in ({}, {"k": 0.75}):
        energy, forces, dE = state_of(restored, positions, platform, **k)
        expected_energy, expected_forces, expected_dE = state_of(system, positions, platform, **k)
        assert energy == pytest.approx(expected_energy, rel=1e-14) and energy > 0
        np.testing.assert_allclose(forces, expected_forces, rtol=1e-14, atol=1e-14)
        assert dE == pytest.approx(expected_dE, rel=1e-14)
        assert (dE["k"] > 0) == bool(derivatives)  # OpenMM lists the parameter, 0 unless requested


def test_openmm_torch_version_1_names_the_model_file(tmp_path, positions):
    path = str(tmp_path / "well.pt")
    torch.jit.script(Well()).save(path)
    element = openmm_torch_force_element(1, file=path, periodic=True, parameters=[("k", 2.5)])
    restored = openmm.XmlSerializer.deserialize(system_xml_with(box_system(), element))
    assert TorchForce.cast(restored.getForce(0)).getFile() == path
    d = positions - 0.5 * BOX
    d -= np.round(d / BOX) * BOX
    assert state_of(restored, positions)[0] == pytest.approx(2.5 * (d**2).sum(), rel=1e-13)


def test_equipot_model_in_openmm_torch_xml(models):
    """An equipot model file embedded the openmm-torch way loads as an equipot model;
    openmm-torch's XML has no elements, so they are set after loading."""
    path = models[("ho", "float64")]
    symbols, positions, _ = water_cluster(num_molecules=2)
    element = openmm_torch_force_element(4, open(path, "rb").read())
    restored = openmm.XmlSerializer.deserialize(system_xml_with(openmm_system(symbols, None), element))
    loaded = TorchForce.cast(restored.getForce(0))
    assert loaded.isEquipotModel() and loaded.getModelElements() == ["H", "O"]
    loaded.setElements(symbols)

    system = openmm_system(symbols, None)
    system.addForce(TorchForce(path, elements=symbols))
    energy, forces = evaluate(restored, positions)
    expected_energy, expected_forces = evaluate(system, positions)
    assert energy == pytest.approx(expected_energy, rel=1e-14)
    np.testing.assert_allclose(forces, expected_forces, rtol=1e-13, atol=1e-12)


def test_bad_openmm_torch_xml():
    model = module_bytes(torch.jit.script(Well()))
    element = openmm_torch_force_element(4, model)
    element.set("version", "5")
    with pytest.raises(openmm.OpenMMException, match=r"TorchForce \(openmm-torch\) XML has version 5, but this "
                                                     r"equipot reads versions 1 to 4"):
        openmm.XmlSerializer.deserialize(ET.tostring(element, encoding="unicode"))
    element = openmm_torch_force_element(4, model)
    element.set("encodedFileContents", "zz" + model.hex())
    with pytest.raises(openmm.OpenMMException, match="a character that is not hexadecimal"):
        openmm.XmlSerializer.deserialize(ET.tostring(element, encoding="unicode"))
    del element.attrib["encodedFileContents"]
    with pytest.raises(openmm.OpenMMException, match="lacks encodedFileContents"):
        openmm.XmlSerializer.deserialize(ET.tostring(element, encoding="unicode"))
    element = openmm_torch_force_element(3, model, derivatives=["k"])  # not a global parameter
    with pytest.raises(openmm.OpenMMException, match="'k' is not a global parameter"):
        openmm.XmlSerializer.deserialize(ET.tostring(element, encoding="unicode"))


def test_equipot_xml_round_trips_every_setting(positions):
    force = TorchForce(torch.jit.script(Well()), {"CUDAGraphWarmupSteps": "4"})
    force.setUsesPeriodicBoundaryConditions(True)
    force.addGlobalParameter("k", 2.5)
    force.addEnergyParameterDerivative("k")
    force.setForceGroup(2)
    force.setName("well")
    system = box_system()
    system.addForce(force)
    xml = openmm.XmlSerializer.serialize(system)
    assert 'type="EquipotTorchForce"' in xml and 'type="TorchForce"' not in xml
    restored = openmm.XmlSerializer.deserialize(xml)
    loaded = TorchForce.cast(restored.getForce(0))
    assert (loaded.getName(), loaded.getForceGroup(), loaded.usesPeriodicBoundaryConditions()) == ("well", 2, True)
    assert loaded.getEnergyParameterDerivativeName(0) == "k"
    assert loaded.getProperties()["CUDAGraphWarmupSteps"] == "4"
    assert loaded.getModelBytes() == force.getModelBytes()
    energy, forces, dE = state_of(restored, positions, k=1.5)
    expected_energy, expected_forces, expected_dE = state_of(system, positions, k=1.5)
    assert (energy, dE) == (expected_energy, expected_dE)
    np.testing.assert_array_equal(forces, expected_forces)

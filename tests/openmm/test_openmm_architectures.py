"""Every architecture runs in equipot's OpenMM TorchForce with no special case in
C++: a tiny model of each, in both file formats, gives the ASE calculator's energy and
forces with the TorchScript file (periodic triclinic Cu-Ni box; Reference and CPU
platforms)."""

import numpy as np
import pytest

from equipot.openmm import TorchForce
from omm_helpers import PLATFORMS, cuni_triclinic, evaluate, openmm_system, reference_results
from tests.conftest import architectures


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("file_format", ["torchscript", "aoti"])
@pytest.mark.parametrize("architecture", architectures())
def test_matches_ase_calculator(model_files, architecture, file_format, platform):
    symbols, positions, cell = cuni_triclinic()
    ref_energy, ref_forces = reference_results(model_files(architecture), symbols, positions, cell)
    system = openmm_system(symbols, cell)
    system.addForce(TorchForce(model_files(architecture, file_format), elements=symbols, periodic=True))
    energy, forces = evaluate(system, positions, platform, cell)
    assert abs(energy - ref_energy) <= 1e-9 * abs(ref_energy)
    assert np.abs(forces - ref_forces).max() <= 1e-9 * np.abs(ref_forces).max()


def test_compiled_package_survives_xml_serialization(model_files):
    """A System saved to XML keeps the package's bytes; the restored force runs them (the
    core loads a package from bytes through a temporary file) and says it has no
    TorchScript module to give."""
    import openmm

    symbols, positions, cell = cuni_triclinic()
    system = openmm_system(symbols, cell)
    system.addForce(TorchForce(model_files("schnet", "aoti"), elements=symbols, periodic=True))
    restored = openmm.XmlSerializer.deserialize(openmm.XmlSerializer.serialize(system))
    original_energy, original_forces = evaluate(system, positions, "Reference", cell)
    energy, forces = evaluate(restored, positions, "Reference", cell)
    assert energy == original_energy and np.array_equal(forces, original_forces)
    with pytest.raises(ValueError, match="compiled equipot model"):
        TorchForce.cast(restored.getForce(0)).getModule()

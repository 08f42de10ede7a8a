"""Every architecture runs in equipot's OpenMM TorchForce with no special case in
C++: a tiny model of each gives the ASE calculator's energy and forces (periodic
triclinic Cu-Ni box; Reference and CPU platforms)."""

import numpy as np
import pytest

from equipot.export import export_model
from equipot.openmm import TorchForce
from omm_helpers import PLATFORMS, cuni_triclinic, evaluate, openmm_system, reference_results
from tests.conftest import architectures, make_model


@pytest.fixture(scope="module", params=architectures())
def tiny_model_file(request, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("arch") / "model.pt")
    export_model(make_model(request.param, ("Cu", "Ni"), cutoff=4.0), path, "float64")
    return path


@pytest.mark.parametrize("platform", PLATFORMS)
def test_matches_ase_calculator(tiny_model_file, platform):
    symbols, positions, cell = cuni_triclinic()
    ref_energy, ref_forces = reference_results(tiny_model_file, symbols, positions, cell)
    system = openmm_system(symbols, cell)
    system.addForce(TorchForce(tiny_model_file, elements=symbols, periodic=True))
    energy, forces = evaluate(system, positions, platform, cell)
    assert abs(energy - ref_energy) <= 1e-9 * abs(ref_energy)
    assert np.abs(forces - ref_forces).max() <= 1e-9 * np.abs(ref_forces).max()

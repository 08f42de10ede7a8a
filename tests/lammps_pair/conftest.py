"""Fixtures for the pair_style equipot tests; helpers live in lammps_pair_helpers.py."""

import pytest

from lammps_pair_helpers import make_schnet
from equipot.export import export_model


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    """Float64 and float32 exports of one 3-layer SchNet, and a 2-layer one."""
    directory = tmp_path_factory.mktemp("models")
    model = make_schnet()
    paths = {"f64": directory / "schnet_f64.pt", "f32": directory / "schnet_f32.pt",
             "f64_2layers": directory / "schnet2_f64.pt"}
    export_model(model, str(paths["f64"]), "float64")
    export_model(model, str(paths["f32"]), "float32")
    export_model(make_schnet(seed=1, num_interactions=2), str(paths["f64_2layers"]), "float64")
    return {k: str(v) for k, v in paths.items()}


@pytest.fixture(scope="session")
def fitted_model(fitted_cuni_model):
    """The SchNet trained on the bundled Cu-Ni data by equipot's training pipeline
    (tests/conftest.py): a stable fcc lattice, as the MD tests need."""
    return fitted_cuni_model

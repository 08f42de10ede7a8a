"""Every architecture trains on the bundled Cu-Ni data with equipot's own training
pipeline: a short run of a tiny model (the generic suite's hyperparameters) must
bring the validation force MAE well below the 640 meV/A of predicting zero forces.
The README's accuracy table comes from the longer runs of benchmarks/train_zoo.py."""

import os

import ase.io
import pytest

from equipot.training import train
from tests.conftest import DATA, TINY_HYPERPARAMETERS, architectures

EPOCHS = 12
# Validation force MAE (eV/A) after EPOCHS epochs on 80 structures; measured values
# are 2-3x below these limits (see the closing notes), zero forces give 0.64.
FORCE_MAE_LIMIT = {"schnet": 0.15, "painn": 0.15, "dimenet++": 0.15, "tensornet": 0.20, "nequip": 0.15, "equiformer_v2": 0.08}


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cuni")
    ase.io.write(folder / "train.extxyz", ase.io.read(os.path.join(DATA, "cuni_emt", "train.extxyz"), ":80"))
    ase.io.write(folder / "val.extxyz", ase.io.read(os.path.join(DATA, "cuni_emt", "val.extxyz"), ":20"))
    return folder


@pytest.mark.parametrize("architecture", architectures())
def test_architecture_learns_forces(architecture, small_data, tmp_path):
    assert architecture in FORCE_MAE_LIMIT, f"state a force MAE limit for {architecture}"
    config = {
        "model": {"architecture": architecture, "cutoff": 4.0, **TINY_HYPERPARAMETERS[architecture]},
        "data": {"train": str(small_data / "train.extxyz"), "val": str(small_data / "val.extxyz")},
        "training": {"epochs": EPOCHS, "batch_size": 8, "learning_rate": 0.005, "lr_patience": 3},
        "out": str(tmp_path / "run"),
    }
    summary = train(config, progress=False)
    assert summary["val_forces_mae"] < FORCE_MAE_LIMIT[architecture], summary

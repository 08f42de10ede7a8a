"""A short training run on the bundled data, through the command line, then
export_model and the C++ core on the result."""

import json
import os
import subprocess
import sys

import ase.io
import numpy as np
import pytest
import torch
import yaml

from equipot import EquipotCalculator
from equipot.export import load_checkpoint, model_from_checkpoint, rebuilt_in
from tests.conftest import DATA
from tests.python.reference import evaluate

# Thresholds for 40 epochs of a small SchNet on 160 Cu-Ni structures (about 20 s on
# 2 cores). Predicting zero forces gives a validation force MAE of 640 meV/A.
FORCE_MAE_LIMIT = 0.100  # eV/A
ENERGY_MAE_LIMIT = 0.030  # eV/atom


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("training")
    ase.io.write(folder / "train.extxyz", ase.io.read(os.path.join(DATA, "cuni_emt", "train.extxyz"), ":160"))
    ase.io.write(folder / "val.extxyz", ase.io.read(os.path.join(DATA, "cuni_emt", "val.extxyz"), ":40"))
    config = {
        "model": {"num_features": 32, "num_filters": 32, "num_interactions": 2, "num_basis": 16},
        "training": {"batch_size": 8, "learning_rate": 0.003, "lr_patience": 3, "stress_weight": 10.0},
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    out = folder / "run"
    command = [sys.executable, "-m", "equipot.cli", "train", str(folder / "config.yaml"), "--data", str(folder),
               "--model", "schnet", "--cutoff", "4.0", "--epochs", "40", "--out", str(out), "--quiet"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return folder, out, result.stdout


def test_training_reaches_accuracy(trained):
    _, out, stdout = trained
    summary = json.load(open(out / "metrics.json"))["summary"]
    assert summary["val_forces_mae"] < FORCE_MAE_LIMIT, summary
    assert summary["val_energy_mae"] < ENERGY_MAE_LIMIT, summary
    assert "force MAE" in stdout


def test_checkpoint_contents_and_plots(trained):
    _, out, _ = trained
    checkpoint = load_checkpoint(str(out / "checkpoint.pt"))
    for key in ("config", "model_state", "elements", "cutoff", "normalization", "optimizer_state", "history", "best"):
        assert key in checkpoint
    assert checkpoint["elements"] == ["Ni", "Cu"]  # ordered by atomic number
    assert checkpoint["cutoff"] == 4.0
    assert checkpoint["normalization"]["energy_scale"] > 0
    assert len(checkpoint["history"]) == checkpoint["epoch"] + 1
    for plot in ("learning_curve.png", "parity.png"):
        assert (out / plot).stat().st_size > 10_000
    import matplotlib.image

    # Stress was fitted (stress_weight 10): energy, force and stress panels, 500 px each.
    assert matplotlib.image.imread(out / "parity.png").shape[1] == 1500


def test_resume_continues_from_last_epoch(trained):
    folder, out, _ = trained
    command = [sys.executable, "-m", "equipot.cli", "train", "--epochs", "42", "--out", str(out), "--resume", "--quiet",
               "--data", str(folder)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    history = json.load(open(out / "metrics.json"))["history"]
    assert [h["epoch"] for h in history][-3:] == [39, 40, 41]


def test_export_model_cli_and_core_parity(trained):
    folder, out, _ = trained
    model_path = out / "exported.pt"
    result = subprocess.run(
        [sys.executable, "-m", "equipot.export", str(out / "checkpoint.pt"), "-o", str(model_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "elements      Ni Cu" in result.stdout and "dtype         float64" in result.stdout
    python_model = rebuilt_in(model_from_checkpoint(load_checkpoint(str(out / "checkpoint.pt"))), torch.float64).eval()
    atoms = ase.io.read(folder / "val.extxyz", "0")
    e_ref, f_ref, _, _ = evaluate(python_model, atoms)
    atoms.calc = EquipotCalculator(str(model_path))
    assert abs(atoms.get_potential_energy() - e_ref) <= 1e-10 * abs(e_ref)
    np.testing.assert_allclose(atoms.get_forces(), f_ref, atol=1e-10)


def test_bad_training_input(tmp_path):
    command = [sys.executable, "-m", "equipot.cli", "train", "--data", str(tmp_path / "none.extxyz"), "--out", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "does not exist" in result.stderr


def test_diverged_loss_stops_training_with_a_clear_error():
    import random

    from equipot.data import read_structures, structure_from_atoms
    from equipot.training import DEFAULT_CONFIG, run_epoch
    from tests.conftest import make_schnet

    model = make_schnet(num_interactions=1)
    model.energy_scale.fill_(float("nan"))
    frames = read_structures(os.path.join(DATA, "cuni_emt", "val.extxyz"))[:4]
    structures = [structure_from_atoms(a, model.elements, model.cutoff) for a in frames]
    optimizer = torch.optim.Adam(model.parameters())
    with pytest.raises(FloatingPointError, match="diverged"):
        run_epoch(model, structures, DEFAULT_CONFIG["training"], torch.float64, optimizer, random.Random(0))


def test_models_command_lists_every_architecture_with_defaults():
    from equipot.models import ARCHITECTURES

    result = subprocess.run([sys.executable, "-m", "equipot.cli", "models"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for name in ARCHITECTURES:
        assert f"\n{name}: " in "\n" + result.stdout
    assert "    num_interactions = 3" in result.stdout and "    reference_quirks = False" in result.stdout

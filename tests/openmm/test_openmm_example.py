"""examples/openmm/run_md.py runs (CuNi fcc box, the gas-phase water cluster, a
--structure file, a few steps); a structure file's cell, rotated and reduced for
OpenMM, gives the core's own energy."""

import importlib.util
from pathlib import Path

import ase.io
import numpy as np
import openmm
import pytest
import torch
from ase.build import bulk
from openmm import unit

import equipot.openmm  # noqa: F401  (the plugin must exist)
from equipot import EquipotCalculator
from equipot.openmm import KJ_PER_MOL_PER_EV, create_system

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "openmm" / "run_md.py"


def load_example():
    spec = importlib.util.spec_from_file_location("run_md", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def skewed_alloy(path):
    """CuNi on fcc's primitive cell (no axis along x: needs rotating and reducing)."""
    atoms = bulk("Cu", "fcc", a=3.6).repeat(3)
    rng = np.random.default_rng(0)
    atoms.set_chemical_symbols(list(np.where(rng.random(len(atoms)) < 0.5, "Ni", "Cu")))
    atoms.positions += rng.normal(0.0, 0.05, atoms.positions.shape)
    ase.io.write(path, atoms)
    return atoms


def without_cell(atoms):
    atoms.pbc = False
    atoms.cell = np.zeros((3, 3))
    return atoms


def run(args, capsys):
    assert load_example().main(args) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0]
    assert "20 steps in" in out and len([l for l in out.splitlines() if not l.startswith("#")]) == 2  # report rows
    return header


@pytest.mark.parametrize("name, extra, expected", [
    ("cuni", ["--repeat", "2"], "32 atoms (Cu: "),
    ("ho", ["--friction", "0", "--timestep", "0.5"], "6 atoms (H: 4, O: 2; first water cluster of data/water_xtb/val.extxyz), non-periodic"),
])
def test_run_md(models, name, extra, expected, capsys, tmp_path):
    dcd = tmp_path / "traj.dcd"
    args = [models[(name, "float32")], "--steps", "20", "--report", "10", "--dcd", str(dcd)]
    header = run(args + extra, capsys)
    assert expected in header
    assert ("periodic box" in header) == (name == "cuni")
    assert dcd.stat().st_size > 0


def test_run_md_structure_and_threads(models, capsys, tmp_path):
    path = tmp_path / "alloy.extxyz"
    skewed_alloy(path)
    torch.set_num_threads(2)  # --threads must bring it back to 1 (the fixture restores it)
    header = run([models[("cuni", "float64")], "--structure", str(path), "--threads", "1",
                  "--steps", "20", "--report", "10"], capsys)
    assert "27 atoms" in header and "periodic box 7.64 x 7.64 x 7.64 A" in header and "1 torch thread(s)" in header

    cluster = tmp_path / "cluster.xyz"
    ase.io.write(cluster, without_cell(bulk("Ni", "fcc", a=3.5, cubic=True).repeat(2)))
    header = run([models[("cuni", "float64")], "--structure", str(cluster), "--steps", "20", "--report", "10"], capsys)
    assert "32 atoms (Ni: 32; " in header and "non-periodic" in header


@pytest.mark.parametrize("periodic", [True, False])
def test_structure_energy(models, tmp_path, periodic):
    """The System built from a structure file has the core's energy of that file's atoms."""
    example = load_example()
    model = models[("cuni", "float64")]
    atoms = skewed_alloy(tmp_path / "alloy.extxyz")
    if not periodic:
        atoms = without_cell(atoms)
        ase.io.write(tmp_path / "alloy.extxyz", atoms)
    symbols, positions, cell = example.read_structure(tmp_path / "alloy.extxyz")
    topology = example.make_topology(symbols, cell)
    assert (topology.getPeriodicBoxVectors() is not None) == periodic
    system = create_system(topology, model)
    assert system.usesPeriodicBoundaryConditions() == periodic
    context = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
    context.setPositions(positions * 0.1 * unit.nanometer)
    energy = context.getState(getEnergy=True).getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
    atoms.calc = EquipotCalculator(model)
    assert energy == pytest.approx(atoms.get_potential_energy() * KJ_PER_MOL_PER_EV, rel=1e-9)

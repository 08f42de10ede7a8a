"""Helpers shared by the OpenMM plugin tests (structures, reference results, Systems)."""

import numpy as np
import openmm
from openmm import app, unit

from equipot._core import ANGSTROM_PER_NM, KJ_PER_MOL_PER_EV
from tests.conftest import cuni_alloy
from tests.conftest import make_schnet as shared_make_schnet

PLATFORMS = ["Reference", "CPU"]


def make_schnet(elements, seed):
    return shared_make_schnet(elements, cutoff=4.0, num_interactions=2, seed=seed)


def water_cluster(num_molecules=4, seed=0):
    """Non-periodic water molecules on a loose grid with random orientations (Angstrom)."""
    rng = np.random.default_rng(seed)
    symbols, positions = [], []
    local = np.array([[0.0, 0.0, 0.0], [0.9572, 0.0, 0.0], [-0.2400, 0.9266, 0.0]])
    for m in range(num_molecules):
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        centre = np.array([m % 2, (m // 2) % 2, m // 4], float) * 2.9 + rng.normal(scale=0.1, size=3)
        symbols += ["O", "H", "H"]
        positions += list(local @ q.T + centre)
    return symbols, np.array(positions), None


def cuni_fcc(repeat=2, seed=0):
    """Periodic orthogonal CuNi fcc box (a = 3.6 A) with random displacements:
    (symbols, positions, cell) in Angstrom."""
    atoms = cuni_alloy((repeat,) * 3, seed, rattle=0.08, a=3.6)
    return atoms.get_chemical_symbols(), atoms.positions, np.array(atoms.cell)


def cuni_triclinic(num_atoms=30, seed=3):
    """Periodic triclinic box in OpenMM's reduced form, filled with random atoms that
    keep at least 2.0 A apart (wrapped positions partly outside the box)."""
    rng = np.random.default_rng(seed)
    length = 9.0
    cell = np.array([[1.0, 0.0, 0.0], [0.3, 0.95, 0.0], [-0.2, 0.25, 0.9]]) * length
    fractional = []
    while len(fractional) < num_atoms:
        s = rng.random(3)
        if all(_min_image_distance(s, t, cell) > 2.0 for t in fractional):
            fractional.append(s)
    positions = np.array(fractional) @ cell + rng.integers(-1, 2, size=(num_atoms, 3)) @ cell
    symbols = list(rng.choice(["Cu", "Ni"], size=num_atoms))
    return symbols, positions, cell


def _min_image_distance(s, t, cell):
    d = np.asarray(s) - np.asarray(t)
    d -= np.round(d)
    return min(
        np.linalg.norm((d + np.array([i, j, k])) @ cell) for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)
    )


def reference_results(model_path, symbols, positions, cell):
    """Energy (kJ/mol) and forces (kJ/mol/nm) from the ASE calculator."""
    from ase import Atoms

    from equipot import EquipotCalculator

    atoms = Atoms(symbols=symbols, positions=positions, cell=cell if cell is not None else np.zeros((3, 3)),
                  pbc=cell is not None)
    atoms.calc = EquipotCalculator(model_path)
    return atoms.get_potential_energy() * KJ_PER_MOL_PER_EV, atoms.get_forces() * KJ_PER_MOL_PER_EV * ANGSTROM_PER_NM


def openmm_system(symbols, cell):
    system = openmm.System()
    for symbol in symbols:
        system.addParticle(app.Element.getBySymbol(symbol).mass)
    if cell is not None:
        system.setDefaultPeriodicBoxVectors(*[openmm.Vec3(*row) / ANGSTROM_PER_NM for row in cell])
    return system


def make_topology(symbols, cell=None, residue_size=None):
    topology = app.Topology()
    chain = topology.addChain()
    residue = None
    for index, symbol in enumerate(symbols):
        if residue is None or (residue_size and index % residue_size == 0):
            residue = topology.addResidue("HOH" if residue_size == 3 else "RES", chain)
        topology.addAtom(f"{symbol}{index}", app.Element.getBySymbol(symbol), residue)
    if cell is not None:
        topology.setPeriodicBoxVectors([openmm.Vec3(*row) / ANGSTROM_PER_NM for row in cell] * unit.nanometer)
    return topology


def evaluate(system, positions_angstrom, platform="Reference", cell=None, groups=-1):
    """Energy (kJ/mol) and forces (kJ/mol/nm) of a System at positions in Angstrom."""
    context = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName(platform))
    if cell is not None:
        context.setPeriodicBoxVectors(*[openmm.Vec3(*row) / ANGSTROM_PER_NM for row in cell])
    context.setPositions(np.asarray(positions_angstrom) / ANGSTROM_PER_NM)
    state = context.getState(getEnergy=True, getForces=True, groups=groups)
    return (
        state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole),
        state.getForces(asNumpy=True).value_in_unit(unit.kilojoule_per_mole / unit.nanometer),
    )

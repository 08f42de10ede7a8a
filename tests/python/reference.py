"""The Python reference path: the model evaluated in PyTorch with forces and stress
by autograd through positions and strain, on a neighbor list built by ASE (not by
the C++ core), so it is independent of everything the export-parity tests check."""

import numpy as np
import torch
from ase.neighborlist import primitive_neighbor_list

from equipot.data import Structure, collate, predict, species_indices


def ase_structure(atoms, elements, cutoff, edge_order_seed=None) -> Structure:
    """`edge_order_seed` shuffles the edge list (models must not depend on its order)."""
    i, j, shifts = primitive_neighbor_list(
        "ijS", atoms.pbc, atoms.cell[:], atoms.positions, cutoff, self_interaction=False
    )
    if edge_order_seed is not None:
        order = np.random.default_rng(edge_order_seed).permutation(len(i))
        i, j, shifts = i[order], j[order], shifts[order]
    return Structure(
        species=species_indices(atoms.get_chemical_symbols(), elements),
        positions=atoms.positions.copy(),
        cell=np.asarray(atoms.cell[:]),
        pbc=atoms.pbc.copy(),
        edge_index=np.stack([i, j]).astype(np.int64),
        shifts=shifts.astype(np.int64),
    )


def evaluate(model, atoms, stress=False, edge_order_seed=None):
    """(energy, forces, stress [3,3] or None, per-atom energies) as numpy float64."""
    dtype = next(model.parameters()).dtype
    batch = collate([ase_structure(atoms, model.elements, model.cutoff, edge_order_seed)], dtype)
    out = predict(model, batch, forces=True, stress=stress)
    return (
        float(out["energy"][0].detach()),
        out["forces"].detach().double().numpy(),
        out["stress"][0].detach().double().numpy() if stress else None,
        out["atom_energies"].detach().double().numpy(),
    )


def energy(model, atoms) -> float:
    return evaluate(model, atoms)[0]

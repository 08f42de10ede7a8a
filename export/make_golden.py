"""Writes the golden files that cpp/tests/test_golden.cpp reads: a small frozen
SchNet in each format (schnet_cuni_f64.pt, format version 1; schnet_cuni_f64.pt2,
format version 2, compiled for AVX2), a triclinic periodic structure, and the energy,
forces and virial that the *Python* model gives for it (autograd through positions
and strain), so the C++ test checks the core against an independent computation.

A golden file, once written, stays: it proves that files of its version stay
readable. Only missing files are written (the model is the same every time):
    python export/make_golden.py
"""

import os

import numpy as np
import torch
from ase.build import bulk

from ase.neighborlist import primitive_neighbor_list

from equipot.data import Structure, collate, predict, species_indices
from equipot.export import export_model, rebuilt_in
from equipot.models import SchNet

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")


def write_expected(model, structure, path):
    """The energy, forces and virial of the Python `model` for `structure` (autograd
    through positions and strain), with the number of edges of the graph."""
    out = predict(model, collate([structure]), forces=True, stress=True)
    volume = abs(np.linalg.det(structure.cell))
    virial = -out["stress"][0].detach().numpy() * volume
    with open(path, "w") as handle:
        handle.write(f"{float(out['energy'][0].detach()):.17g} {structure.edge_index.shape[1]}\n")
        for f in out["forces"].detach().numpy():
            handle.write(" ".join(f"{x:.17g}" for x in f) + "\n")
        handle.write(" ".join(f"{x:.17g}" for x in virial.ravel()) + "\n")


def main():
    os.makedirs(HERE, exist_ok=True)
    torch.manual_seed(2026)
    model = SchNet(["Cu", "Ni"], cutoff=4.0, num_features=16, num_filters=16, num_interactions=2, num_basis=12)
    model.reference_energies.copy_(torch.tensor([-3.5, -4.25]))
    model = model.double().eval()

    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 1, 1))
    atoms.symbols[[1, 4, 6]] = "Ni"
    atoms.set_cell(atoms.cell[:] @ np.array([[1.0, 0.1, 0.0], [0.0, 1.05, 0.08], [0.0, 0.0, 0.97]]), scale_atoms=True)
    atoms.rattle(0.1, seed=7)
    # The graph comes from ASE's neighbor list, not the core's, so the expected numbers
    # are independent of everything the C++ test checks.
    i, j, shifts = primitive_neighbor_list("ijS", atoms.pbc, atoms.cell[:], atoms.positions, model.cutoff)
    structure = Structure(
        species=species_indices(atoms.get_chemical_symbols(), model.elements),
        positions=atoms.positions.copy(),
        cell=np.asarray(atoms.cell[:]),
        pbc=atoms.pbc.copy(),
        edge_index=np.stack([i, j]).astype(np.int64),
        shifts=shifts.astype(np.int64),
    )
    if not os.path.exists(os.path.join(HERE, "structure.txt")):
        with open(os.path.join(HERE, "structure.txt"), "w") as handle:
            handle.write(f"{len(atoms)}\n")
            handle.write(" ".join(f"{x:.17g}" for x in structure.cell.ravel()) + "\n")
            handle.write(" ".join(str(int(p)) for p in structure.pbc) + "\n")
            for s, r in zip(structure.species, structure.positions):
                handle.write(f"{s} " + " ".join(f"{x:.17g}" for x in r) + "\n")

    # Format 1 was written from the model as built above (float32 constants, widened).
    # Since format 2, export_model rebuilds a model in the export dtype (exact float64
    # constants: export.rebuilt_in), so its expected values come from that model.
    for name, file_format, expected, reference in (
            ("schnet_cuni_f64.pt", "torchscript", "expected.txt", model),
            ("schnet_cuni_f64.pt2", "aoti", "expected_pt2.txt", rebuilt_in(model, torch.float64))):
        if not os.path.exists(os.path.join(HERE, name)):
            export_model(model, os.path.join(HERE, name), "float64", file_format=file_format,
                         cpu="avx2" if file_format == "aoti" else None)
        if not os.path.exists(os.path.join(HERE, expected)):
            write_expected(reference, structure, os.path.join(HERE, expected))
    print("missing golden files written to", HERE)


if __name__ == "__main__":
    main()
